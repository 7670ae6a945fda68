package domain

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// folders fold accents away (NFKD, marks removed, NFC). A chain allocates 16 KB of buffers when it is
// made, a quarter of what a whole create allocated: they are made once and reused.
var folders = sync.Pool{New: func() any {
	return transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// foldAccents returns name without its accents (Crème → Creme); ASCII, which has none, as it is.
func foldAccents(name string) string {
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return name
	}
	t := folders.Get().(transform.Transformer)
	defer folders.Put(t)
	t.Reset()
	folded, _, err := transform.String(t, name)
	if err != nil {
		return name
	}
	return folded
}

// Slugify turns a name into a slug: accents folded (Crème → creme), lower case, every other run of
// characters a single '-', trimmed to SlugMaxLen. It may return a string shorter than SlugMinLen.
func Slugify(name string) string {
	folded := foldAccents(name)
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(folded) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case r == 'ß':
			b.WriteString("ss")
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > SlugMaxLen {
		cut := s[:SlugMaxLen]
		// Cut at a word boundary when one is near, rather than in the middle of a word.
		if s[SlugMaxLen] != '-' {
			if i := strings.LastIndexByte(cut, '-'); i >= SlugMaxLen/2 {
				cut = cut[:i]
			}
		}
		s = strings.TrimRight(cut, "-")
	}
	return s
}

// SlugBase is the slug generated for a name: Slugify, or "org" when that leaves too little.
func SlugBase(name string) string {
	s := Slugify(name)
	if len(s) < SlugMinLen {
		if s == "" {
			return "org"
		}
		return "org-" + s
	}
	return s
}

// SlugWithSuffix returns base-n, shortening base so that the result stays within SlugMaxLen.
func SlugWithSuffix(base string, n int) string {
	suffix := fmt.Sprintf("-%d", n)
	if len(base)+len(suffix) > SlugMaxLen {
		base = strings.TrimRight(base[:SlugMaxLen-len(suffix)], "-")
	}
	return base + suffix
}

// GeneratedDomain is the primary domain generated for a slug: <slug>.<suffix>.
func GeneratedDomain(slug, suffix string) string {
	return slug + "." + strings.Trim(strings.ToLower(suffix), ".")
}
