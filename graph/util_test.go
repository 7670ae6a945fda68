package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"

	"orgs/db"
	"orgs/domain"
)

var getenv = os.Getenv

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func jsonBody(query string) []byte {
	b, _ := json.Marshal(map[string]any{"query": query})
	return b
}

func jsonRequest(a *api, body map[string]any) *http.Request {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.key)
	return req
}

func dbNewKey(name string) db.NewAPIKey {
	return db.NewAPIKey{Name: name, Tenant: "bench " + name, Permissions: domain.AllPermissions}
}
