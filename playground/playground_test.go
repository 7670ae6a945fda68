package playground

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const testEndpoint = "/query"

// requireAssets stops the test when playground/dist was not filled.
func requireAssets(t *testing.T) {
	t.Helper()
	var missing []string
	for _, name := range requiredAssets {
		if _, err := fs.Stat(dist, "dist/"+name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("playground/dist lacks %s: run scripts/playground-assets.sh (make test runs it first) and test again",
			strings.Join(missing, ", "))
	}
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
		if data, err := fs.ReadFile(dist, "dist/"+name); err == nil && !bytes.Equal(resp.body, data) {
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
	want, err := fs.ReadFile(dist, "dist/"+graphiqlJS)
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

func TestWriteUnavailable(t *testing.T) {
	rec := httptest.NewRecorder()
	writeUnavailable(rec, "/query", "missing graphiql.min.js")
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{"make playground", "scripts/playground-assets.sh", "/query", "missing graphiql.min.js"} {
		if !strings.Contains(body, want) {
			t.Errorf("fallback page lacks %q:\n%s", want, body)
		}
	}
}

func TestHandlerWithoutAssets(t *testing.T) {
	// What a build without the script run gets: only .gitkeep in dist.
	files := fstest.MapFS{".gitkeep": {}, graphiqlJS: {Data: []byte("x")}}
	srv := httptest.NewServer(newHandler(files, "Orgs API", testEndpoint))
	defer srv.Close()
	resp := get(t, nil, srv.URL+"/", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(resp.body), "scripts/playground-assets.sh") {
		t.Errorf("GET / = %d %q, want 503 telling to run scripts/playground-assets.sh", resp.StatusCode, resp.body)
	}
	if !strings.Contains(string(resp.body), reactJS) {
		t.Errorf("fallback page does not name the missing files: %s", resp.body)
	}
	if resp := get(t, nil, srv.URL+AssetPrefix+graphiqlJS, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET asset without assets = %d, want 404", resp.StatusCode)
	}
}
