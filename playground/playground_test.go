package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const testEndpoint = "/query"

// requireAssets stops the test when playground/dist lacks a file the page
// loads (the go:embed patterns name them, so a tree without them does not compile).
func requireAssets(t *testing.T) {
	t.Helper()
	var missing []string
	for _, name := range requiredAssets {
		if _, err := fs.Stat(dist, "dist/"+name+gzSuffix); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("playground/dist lacks %s: run scripts/playground-assets.sh and test again",
			strings.Join(missing, ", "))
	}
}

// distContent returns the uncompressed content of the file the page loads as
// name: dist/name, or dist/name.gz decompressed.
func distContent(t *testing.T, name string) ([]byte, error) {
	t.Helper()
	if data, err := fs.ReadFile(dist, "dist/"+name); err == nil {
		return data, nil
	}
	gz, err := fs.ReadFile(dist, "dist/"+name+gzSuffix)
	if err != nil {
		return nil, err
	}
	data, err := gunzip(gz)
	if err != nil {
		t.Fatalf("dist/%s%s: %v", name, gzSuffix, err)
	}
	return data, nil
}

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	requireAssets(t)
	srv := httptest.NewServer(Handler("Orgs API", testEndpoint))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	*http.Response
	body []byte
}

func get(t *testing.T, client *http.Client, rawURL string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp, body}
}

var (
	attrRE   = regexp.MustCompile(`(?i)\b(src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)
	configRE = regexp.MustCompile(`(?s)<script id="playground-config" type="application/json">(.*?)</script>`)
)

// pageRefs returns the src and href values of the page's tags.
func pageRefs(page string) []string {
	var refs []string
	for _, m := range attrRE.FindAllStringSubmatch(page, -1) {
		refs = append(refs, m[2]+m[3]+m[4])
	}
	return refs
}

func TestPage(t *testing.T) {
	srv := newServer(t)
	resp := get(t, nil, srv.URL+"/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	page := string(resp.body)
	for _, want := range []string{
		"<title>Orgs API</title>",
		`"endpoint":"/query"`,
		"mutation CreateOrganization {",
		`createOrganization(input: {name: \"Acme Corporation\", countryCode: \"US\", languageCode: \"en\"})`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	m := configRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("page has no playground-config block:\n%s", page)
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config block is not JSON: %v\n%s", err, m[1])
	}
	if cfg.Endpoint != testEndpoint {
		t.Errorf("config endpoint = %q, want %q", cfg.Endpoint, testEndpoint)
	}
	if cfg.DefaultQuery != exampleQuery {
		t.Errorf("config defaultQuery = %q, want the example mutation", cfg.DefaultQuery)
	}
	for _, want := range []string{
		"# Create an API key first: make apikey NAME=me (or: go run . apikey create --name me)\n",
		"# then paste it into the Headers tab below.\n",
		"mutation CreateOrganization {\n",
		`createOrganization(input: {name: "Acme Corporation", countryCode: "US", languageCode: "en"}) {`,
		"defaultProject { id name }",
		"owners { email role }",
		"details { sequence resourceOwner }",
		"userErrors { field message code }",
	} {
		if !strings.Contains(cfg.DefaultQuery, want) {
			t.Errorf("defaultQuery lacks %q", want)
		}
	}
	var headers map[string]string
	if err := json.Unmarshal([]byte(cfg.DefaultHeaders), &headers); err != nil {
		t.Fatalf("defaultHeaders is not JSON: %v\n%s", err, cfg.DefaultHeaders)
	}
	if got := headers["Authorization"]; got != "Bearer PASTE-YOUR-API-KEY" || len(headers) != 1 {
		t.Errorf("defaultHeaders = %v, want only Authorization: Bearer PASTE-YOUR-API-KEY", headers)
	}
	if !strings.Contains(cfg.DefaultHeaders, "\n  \"Authorization\"") {
		t.Errorf("defaultHeaders is not pretty-printed: %q", cfg.DefaultHeaders)
	}

	// The bootstrap script sets up GraphiQL as asked.
	js := string(newAsset(bootstrapJS, []byte(bootstrapSource)).data)
	for _, want := range []string{
		"GraphiQL.createFetcher({ url: config.endpoint })",
		"isHeadersEditorEnabled: true",
		"shouldPersistHeaders: true",
		"defaultHeaders: config.defaultHeaders",
		"defaultQuery: config.defaultQuery",
	} {
		if !strings.Contains(js, want) {
			t.Errorf("bootstrap script lacks %q", want)
		}
	}
}

func TestPageEscapesTitle(t *testing.T) {
	requireAssets(t)
	rec := httptest.NewRecorder()
	Handler(`Orgs <b>&</b>`, testEndpoint).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if body := rec.Body.String(); !strings.Contains(body, "<title>Orgs &lt;b&gt;&amp;&lt;/b&gt;</title>") {
		t.Errorf("title not escaped:\n%s", body)
	}
}

func TestPageSecurityPolicy(t *testing.T) {
	srv := newServer(t)
	resp := get(t, nil, srv.URL+"/", nil)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'", "font-src 'self' data:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "http") || strings.Contains(csp, "*") {
		t.Errorf("Content-Security-Policy %q allows other hosts", csp)
	}
	// No inline script runs under script-src 'self': the page's only inline
	// script element must be the JSON data block.
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(string(resp.body), -1) {
		if !strings.Contains(tag, "src=") && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("inline script %s would be blocked by the policy", tag)
		}
	}

	if got := contentSecurityPolicy("http://api.example.test:8080/query"); !strings.Contains(got, "connect-src 'self' http://api.example.test:8080;") {
		t.Errorf("absolute endpoint: policy %q does not allow its origin", got)
	}
}

func TestAssetsServed(t *testing.T) {
	srv := newServer(t)
	page := string(get(t, nil, srv.URL+"/", nil).body)
	refs := pageRefs(page)
	if len(refs) == 0 {
		t.Fatalf("page references no assets:\n%s", page)
	}
	seen := map[string]bool{}
	for _, ref := range refs {
		u, err := url.Parse(ref)
		if err != nil {
			t.Errorf("bad reference %q: %v", ref, err)
			continue
		}
		if u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, AssetPrefix) {
			t.Errorf("reference %q is not a local asset path under %s", ref, AssetPrefix)
			continue
		}
		name := strings.TrimPrefix(u.Path, AssetPrefix)
		seen[name] = true
		resp := get(t, nil, srv.URL+ref, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", ref, resp.StatusCode)
			continue
		}
		if got, want := resp.Header.Get("Content-Type"), contentTypes[path.Ext(name)]; got != want || want == "" {
			t.Errorf("GET %s: Content-Type = %q, want %q", ref, got, want)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("GET %s: Cache-Control = %q, want a long max-age", ref, cc)
		}
		if len(resp.body) == 0 {
			t.Errorf("GET %s: empty body", ref)
		}
		if data, err := distContent(t, name); err == nil && !bytes.Equal(resp.body, data) {
			t.Errorf("GET %s: body differs from dist/%s", ref, name)
		}
	}
	for _, name := range slices.Concat(requiredAssets, []string{bootstrapJS, pageCSS}) {
		if !seen[name] {
			t.Errorf("page does not load %s", name)
		}
	}
}

var (
	cssCommentRE = regexp.MustCompile(`(?s)/\*.*?\*/`)
	cssURLRE     = regexp.MustCompile(`(?i)url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*?))\s*\)`)
	cssImportRE  = regexp.MustCompile(`(?i)@import\s+(?:url\(\s*)?["']?([^"')\s;]*)`)
)

// isRemote reports whether the browser would fetch ref from another host.
func isRemote(ref string) bool {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "//") {
		return true
	}
	u, err := url.Parse(ref)
	if err != nil {
		return true // be strict with what we cannot read
	}
	return u.Scheme != "" && u.Scheme != "data"
}

// cssRemoteRefs lists the url(...) and @import targets in css that would be
// loaded from another host. Comments are skipped.
func cssRemoteRefs(css string) []string {
	css = cssCommentRE.ReplaceAllString(css, "")
	var remote []string
	for _, m := range cssURLRE.FindAllStringSubmatch(css, -1) {
		if ref := m[1] + m[2] + m[3]; isRemote(ref) {
			remote = append(remote, "url("+ref+")")
		}
	}
	for _, m := range cssImportRE.FindAllStringSubmatch(css, -1) {
		if isRemote(m[1]) {
			remote = append(remote, "@import "+m[1])
		}
	}
	return remote
}

func TestCSSRemoteRefsDetector(t *testing.T) {
	css := `/* url(https://in.a.comment/x.woff) */
@import url("https://fonts.example.test/css?family=Roboto");
@import '//cdn.example.test/a.css';
@font-face { src: url(data:font/woff2;base64,AAAA) format("woff2"), url('https://x.example.test/f.woff'); }
.a { background: url(/playground/assets/x.png) }`
	got := cssRemoteRefs(css)
	want := []string{
		"url(https://fonts.example.test/css?family=Roboto)",
		"url(https://x.example.test/f.woff)",
		"@import https://fonts.example.test/css?family=Roboto",
		"@import //cdn.example.test/a.css",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cssRemoteRefs = %q, want %q", got, want)
	}
}

func TestNothingLoadedFromOtherHosts(t *testing.T) {
	srv := newServer(t)
	page := string(get(t, nil, srv.URL+"/", nil).body)

	// The page is ours: no absolute URL at all.
	if i := strings.Index(page, "://"); i >= 0 {
		t.Errorf("page contains an absolute URL near %q", page[max(0, i-40):min(len(page), i+40)])
	}
	for _, ref := range pageRefs(page) {
		if isRemote(ref) {
			t.Errorf("page loads %q from another host", ref)
		}
	}
	for _, block := range regexp.MustCompile(`(?is)<style[^>]*>(.*?)</style>`).FindAllStringSubmatch(page, -1) {
		for _, ref := range cssRemoteRefs(block[1]) {
			t.Errorf("inline style loads %s", ref)
		}
	}

	for _, ref := range pageRefs(page) {
		u, _ := url.Parse(ref)
		body := string(get(t, nil, srv.URL+ref, nil).body)
		switch path.Ext(u.Path) {
		case ".css":
			for _, remote := range cssRemoteRefs(body) {
				t.Errorf("%s loads %s", u.Path, remote)
			}
		case ".js":
			// Only source-map comments make a browser fetch anything by
			// itself; the script strips them.
			if strings.Contains(body, "sourceMappingURL=") {
				t.Errorf("%s still has a sourceMappingURL comment", u.Path)
			}
		}
	}
}

func TestGzipAndRevalidation(t *testing.T) {
	srv := newServer(t)
	// A transport that leaves Content-Encoding alone.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	ref := AssetPrefix + graphiqlJS
	want, err := distContent(t, graphiqlJS)
	if err != nil {
		t.Fatal(err)
	}

	plain := get(t, client, srv.URL+ref, nil)
	if plain.Header.Get("Content-Encoding") != "" || !bytes.Equal(plain.body, want) {
		t.Errorf("without Accept-Encoding: Content-Encoding %q, %d bytes; want identity, %d bytes",
			plain.Header.Get("Content-Encoding"), len(plain.body), len(want))
	}

	gz := get(t, client, srv.URL+ref, http.Header{"Accept-Encoding": {"br, gzip"}})
	if gz.StatusCode != http.StatusOK || gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("with gzip: status %d, Content-Encoding %q", gz.StatusCode, gz.Header.Get("Content-Encoding"))
	}
	if !strings.Contains(gz.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary = %q, want Accept-Encoding", gz.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("gzipped body does not decompress to %s", graphiqlJS)
	}
	t.Logf("%s: %d bytes, %d gzipped", graphiqlJS, len(want), len(gz.body))
	// The committed bytes go out as they are, not compressed again.
	if committed, err := fs.ReadFile(dist, "dist/"+graphiqlJS+gzSuffix); err != nil || !bytes.Equal(gz.body, committed) {
		t.Errorf("gzipped body is not dist/%s%s as committed (%v)", graphiqlJS, gzSuffix, err)
	}

	if off := get(t, client, srv.URL+ref, http.Header{"Accept-Encoding": {"gzip;q=0"}}); off.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 still got Content-Encoding %q", off.Header.Get("Content-Encoding"))
	}

	etag := plain.Header.Get("ETag")
	if etag == "" || etag == gz.Header.Get("ETag") {
		t.Fatalf("ETags: identity %q, gzip %q; want distinct, non-empty", etag, gz.Header.Get("ETag"))
	}
	if again := get(t, client, srv.URL+ref, http.Header{"If-None-Match": {etag}}); again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s = %d, want 304", etag, again.StatusCode)
	}
}

func TestUnknownPaths(t *testing.T) {
	srv := newServer(t)
	for _, p := range []string{
		"/index.html",
		"/query",
		"/favicon.ico",
		"/playground",
		"/playground/assets",
		AssetPrefix,
		AssetPrefix + "nope.js",
		AssetPrefix + ".stamp",
		AssetPrefix + ".gitkeep",
		AssetPrefix + "SHA256SUMS",
		AssetPrefix + graphiqlJS + gzSuffix,
		AssetPrefix + "dist/" + graphiqlJS,
		AssetPrefix + "%2e%2e/playground.go",
		"/" + graphiqlJS,
	} {
		if resp := get(t, nil, srv.URL+p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestMethods(t *testing.T) {
	srv := newServer(t)
	for _, p := range []string{"/", AssetPrefix + graphiqlJS} {
		resp, err := http.Post(srv.URL+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s = %d (Allow %q), want 405 (GET, HEAD)", p, resp.StatusCode, resp.Header.Get("Allow"))
		}
		head, err := http.Head(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		head.Body.Close()
		if head.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s = %d, want 200", p, head.StatusCode)
		}
	}
}

// verifySums checks files against sums, a sha256sum listing: every listed
// file must be there with that sha256, and every file there must be listed.
func verifySums(files fs.FS, sums []byte) error {
	want := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != sha256.Size*2 || name == "" || strings.ContainsAny(sum, "ABCDEF") {
			return fmt.Errorf("line %d: %q is not \"<sha256>  <name>\"", i+1, line)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return fmt.Errorf("line %d: %q is not \"<sha256>  <name>\"", i+1, line)
		}
		if _, dup := want[name]; dup {
			return fmt.Errorf("line %d: %s listed twice", i+1, name)
		}
		want[name] = sum
	}
	var errs []error
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum, listed := want[name]
		delete(want, name)
		switch got := sha256.Sum256(data); {
		case !listed:
			errs = append(errs, fmt.Errorf("%s is not listed", name))
		case hex.EncodeToString(got[:]) != sum:
			errs = append(errs, fmt.Errorf("%s: sha256 %x, listed %s", name, got, sum))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		errs = append(errs, fmt.Errorf("%s is listed but missing", name))
	}
	return errors.Join(errs...)
}

func TestEmbeddedFilesMatchSums(t *testing.T) {
	// SHA256SUMS itself is not embedded: read it from the source tree.
	sums, err := os.ReadFile("dist/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		t.Fatal(err)
	}
	if err := verifySums(sub, sums); err != nil {
		t.Errorf("embedded playground/dist does not match dist/SHA256SUMS (run scripts/playground-assets.sh):\n%v", err)
	}
	// What is embedded is what the source tree holds.
	onDisk := os.DirFS("dist")
	if err := fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		embedded, _ := fs.ReadFile(sub, name)
		if disk, err := fs.ReadFile(onDisk, name); err != nil || !bytes.Equal(disk, embedded) {
			t.Errorf("embedded %s differs from playground/dist/%s (%v)", name, name, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Every .gz is whole, and carries no name or time (gzip -n), so the
	// script writes the same bytes each time.
	gzFiles, err := fs.Glob(sub, "*"+gzSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if len(gzFiles) != len(requiredAssets) {
		t.Errorf("%d gzipped files embedded, want %d: %v", len(gzFiles), len(requiredAssets), gzFiles)
	}
	for _, name := range gzFiles {
		data, _ := fs.ReadFile(sub, name)
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("%s: gzip header records name %q, time %v; want neither", name, zr.Name, zr.ModTime)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Each package's licence ships beside its files.
	for _, pkg := range []string{"graphiql", "react", "react-dom"} {
		if data, err := fs.ReadFile(sub, pkg+".LICENSE.txt"); err != nil || !bytes.Contains(data, []byte("MIT License")) {
			t.Errorf("%s.LICENSE.txt: missing or not the MIT licence (%v)", pkg, err)
		}
	}
}

func TestVerifySums(t *testing.T) {
	files := fstest.MapFS{"a.js.gz": {Data: []byte("aaa")}, "b.txt": {Data: []byte("bbb")}}
	line := func(name, data string) string {
		sum := sha256.Sum256([]byte(data))
		return hex.EncodeToString(sum[:]) + "  " + name + "\n"
	}
	good := line("a.js.gz", "aaa") + line("b.txt", "bbb")
	if err := verifySums(files, []byte(good)); err != nil {
		t.Fatalf("matching files: %v", err)
	}
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		sums  string
		want  string
	}{
		{"edited file", fstest.MapFS{"a.js.gz": {Data: []byte("aab")}, "b.txt": {Data: []byte("bbb")}}, good, "a.js.gz: sha256"},
		{"extra file", fstest.MapFS{"a.js.gz": {Data: []byte("aaa")}, "b.txt": {Data: []byte("bbb")}, "c.css.gz": {}}, good, "c.css.gz is not listed"},
		{"missing file", fstest.MapFS{"a.js.gz": {Data: []byte("aaa")}}, good, "b.txt is listed but missing"},
		{"malformed line", files, good + "nonsense\n", `line 3: "nonsense"`},
		{"listed twice", files, good + line("b.txt", "bbb"), "b.txt listed twice"},
	} {
		err := verifySums(tc.files, []byte(tc.sums))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

// gz compresses data for the tests' fake dist directories.
func gz(t *testing.T, data string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHandlerWithoutAssets(t *testing.T) {
	files := fstest.MapFS{".gitkeep": {}, graphiqlJS + gzSuffix: {Data: gz(t, "x")}}
	if _, err := newHandler(files, "Orgs API", testEndpoint); err == nil ||
		!strings.Contains(err.Error(), reactJS) || strings.Contains(err.Error(), graphiqlJS) {
		t.Errorf("newHandler without assets: err = %v, want one naming the missing files only", err)
	}

	files = fstest.MapFS{graphiqlJS: {Data: []byte("x")}, graphiqlJS + gzSuffix: {Data: gz(t, "x")}}
	if _, err := newHandler(files, "Orgs API", testEndpoint); err == nil || !strings.Contains(err.Error(), "both gzipped and not") {
		t.Errorf("newHandler with %s twice: err = %v", graphiqlJS, err)
	}
}

func TestDamagedGzipAsset(t *testing.T) {
	files := fstest.MapFS{}
	for _, name := range requiredAssets {
		files[name+gzSuffix] = &fstest.MapFile{Data: gz(t, "/* "+name+" */")}
	}
	files[graphiqlJS+gzSuffix] = &fstest.MapFile{Data: []byte("not gzip")}
	h, err := newHandler(files, "Orgs API", testEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()

	resp := get(t, client, srv.URL+AssetPrefix+graphiqlJS, nil)
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(resp.body), "gzip") {
		t.Errorf("identity GET of a damaged .gz = %d %q, want a bare 500", resp.StatusCode, resp.body)
	}
	resp = get(t, client, srv.URL+AssetPrefix+reactJS, nil)
	if resp.StatusCode != http.StatusOK || string(resp.body) != "/* "+reactJS+" */" {
		t.Errorf("identity GET of %s = %d %q, want it decompressed", reactJS, resp.StatusCode, resp.body)
	}
}
