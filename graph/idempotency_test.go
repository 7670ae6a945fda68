package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func (a *api) postWithHeaders(key string, headers map[string]string, query string, vars map[string]any) response {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return a.do(req)
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	t.Run("ReplayReturnsTheFirstPayload", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		input := map[string]any{"name": "Once", "idempotencyKey": "order-42"}
		first := a.create(a.key, input)
		second := a.create(a.key, input)
		o1, o2 := first["organization"].(map[string]any), second["organization"].(map[string]any)
		if o1["id"] != o2["id"] || o1["slug"] != "once" || o2["slug"] != "once" ||
			o1["defaultProject"].(map[string]any)["id"] != o2["defaultProject"].(map[string]any)["id"] {
			t.Errorf("replay differs:\n%v\n%v", o1, o2)
		}
		if n := a.count("organizations"); n != 1 {
			t.Errorf("%d organizations, want 1", n)
		}
	})
	t.Run("HeaderWorksLikeTheField", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		h := map[string]string{"Idempotency-Key": "hdr-1"}
		vars := map[string]any{"input": map[string]any{"name": "Header"}}
		r1 := a.postWithHeaders(a.key, h, createMutation, vars)
		r2 := a.postWithHeaders(a.key, h, createMutation, vars)
		id := func(r response) any {
			return r.Data["createOrganization"].(map[string]any)["organization"].(map[string]any)["id"]
		}
		if id(r1) != id(r2) || a.count("organizations") != 1 {
			t.Errorf("header replay: %s / %s", r1.Raw, r2.Raw)
		}
	})
	t.Run("ErrReusedWithOtherInput", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		a.create(a.key, map[string]any{"name": "First", "idempotencyKey": "k"})
		errs := userErrors(a.create(a.key, map[string]any{"name": "Second", "idempotencyKey": "k"}))
		if len(errs) != 1 || errs[0].Code != "IDEMPOTENCY_KEY_REUSED" || errs[0].Field != "input.idempotencyKey" {
			t.Errorf("userErrors = %+v", errs)
		}
		if n := a.count("organizations"); n != 1 {
			t.Errorf("%d organizations, want 1", n)
		}
	})
	t.Run("UserErrorsAreReplayedToo", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		in := map[string]any{"name": "", "idempotencyKey": "bad-input"}
		e1, e2 := userErrors(a.create(a.key, in)), userErrors(a.create(a.key, in))
		if len(e1) != 1 || len(e2) != 1 || e1[0].Code != "BLANK" || e2[0].Code != "BLANK" {
			t.Errorf("userErrors %+v then %+v", e1, e2)
		}
	})
	t.Run("PerTenant", func(t *testing.T) {
		t.Parallel()
		a, b := newAPI(t), newAPIInOtherTenant(t)
		in := map[string]any{"name": "Same", "idempotencyKey": "shared"}
		ida := a.create(a.key, in)["organization"].(map[string]any)["id"]
		idb := b.create(b.key, in)["organization"].(map[string]any)["id"]
		if ida == idb || ida == nil || idb == nil {
			t.Errorf("tenants share idempotency keys: %v %v", ida, idb)
		}
	})
	t.Run("ConcurrentRetriesCreateOne", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		const n = 10
		var wg sync.WaitGroup
		results := make([]map[string]any, n)
		for i := range n {
			wg.Go(func() {
				p, err := a.tryCreate(a.key, map[string]any{"name": "Burst", "idempotencyKey": "burst"})
				if err != nil {
					t.Error(err)
				}
				results[i] = p
			})
		}
		wg.Wait()
		ids := map[any]bool{}
		for _, p := range results {
			if p == nil {
				continue
			}
			if o, ok := p["organization"].(map[string]any); ok {
				ids[o["id"]] = true
				continue
			}
			if errs := userErrors(p); len(errs) != 1 || errs[0].Code != "IDEMPOTENCY_KEY_IN_USE" {
				t.Errorf("answer without organization: %+v", errs)
			}
		}
		if len(ids) != 1 {
			t.Errorf("successful answers carry %d ids, want 1: %v", len(ids), ids)
		}
		if c := a.count("organizations"); c != 1 {
			t.Errorf("%d organizations, want 1", c)
		}
	})
	// While the first request runs, a retry is IN_USE; what a request that died leaves (its claim,
	// running, and no organization) holds nothing: a retry creates at once, with no lease to wait for.
	t.Run("InUseWhileRunningThenRetriedAtOnceAfterACrash", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		in := map[string]any{"name": "Crashy", "idempotencyKey": "crash " + t.Name() + fmt.Sprint(time.Now().UnixNano())}
		// The first request is held inside its transaction by a lock on the caller's user row, which
		// the organization refers to.
		tx := a.store.DB().MustBegin()
		defer tx.Rollback()
		tx.MustExec(`SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, a.actor.TenantID, a.actor.UserID)
		first := make(chan map[string]any, 1)
		go func() {
			p, err := a.tryCreate(a.key, in)
			if err != nil {
				t.Error(err)
			}
			first <- p
		}()
		// It claims its key once it holds the key's lock.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			var claims int
			a.store.DB().Get(&claims, `SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`, a.actor.TenantID, in["idempotencyKey"])
			if claims > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first request never claimed its key")
			}
		}
		if errs := userErrors(a.create(a.key, in)); len(errs) != 1 || errs[0].Code != "IDEMPOTENCY_KEY_IN_USE" {
			t.Errorf("while running: userErrors = %+v, want IDEMPOTENCY_KEY_IN_USE", errs)
		}
		tx.Rollback()
		if p := <-first; p == nil || p["organization"] == nil {
			t.Fatalf("first request: %+v", p)
		}

		// What a request that died mid-way leaves: its claim, running, and (its transaction rolled back)
		// no organization. A retry creates the one organization at once.
		a.store.DB().MustExec(`DELETE FROM organizations WHERE tenant_id = $1 AND name = 'Crashy'`, a.actor.TenantID)
		a.store.DB().MustExec(`UPDATE idempotency_keys SET state = 'running', organization_id = NULL,
			locked_until = now() + interval '1 minute' WHERE tenant_id = $1 AND key = $2`, a.actor.TenantID, in["idempotencyKey"])
		if p := a.create(a.key, in); p["organization"] == nil {
			t.Errorf("after the crash: %+v", userErrors(p))
		}
		var n int
		a.store.DB().Get(&n, `SELECT count(*) FROM organizations WHERE tenant_id = $1 AND name = 'Crashy'`, a.actor.TenantID)
		if n != 1 {
			t.Errorf("%d organizations, want 1", n)
		}
		var state string
		a.store.DB().Get(&state, `SELECT state FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`, a.actor.TenantID, in["idempotencyKey"])
		if state != "done" {
			t.Errorf("key state %q after the create, want done", state)
		}
	})
	t.Run("ExpiredKeyIsClaimedAfresh", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		first := a.create(a.key, map[string]any{"name": "Old", "idempotencyKey": "old"})["organization"].(map[string]any)["id"]
		a.store.DB().MustExec(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE tenant_id = $1`, a.actor.TenantID)
		p := a.create(a.key, map[string]any{"name": "New", "idempotencyKey": "old"})
		if o, _ := p["organization"].(map[string]any); o == nil || o["id"] == first {
			t.Errorf("an expired key was not claimed afresh: %v %+v", p["organization"], userErrors(p))
		}
		if n, err := a.service.PurgeIdempotencyKeys(context.Background()); err != nil || n < 0 {
			t.Errorf("purge: %d %v", n, err)
		}
	})
	t.Run("NewClientMutationIdStillReplays", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		p1 := a.create(a.key, map[string]any{"name": "Cm", "idempotencyKey": "cm", "clientMutationId": "1"})
		p2 := a.create(a.key, map[string]any{"name": "Cm", "idempotencyKey": "cm", "clientMutationId": "2"})
		o1, o2 := p1["organization"].(map[string]any), p2["organization"].(map[string]any)
		if o1["id"] != o2["id"] || p2["clientMutationId"] != "2" {
			t.Errorf("retry with a new clientMutationId: %v / %v", p1, p2)
		}
	})
	t.Run("ValidateOnlyDoesNotSpendTheKey", func(t *testing.T) {
		t.Parallel()
		a := newAPI(t)
		a.create(a.key, map[string]any{"name": "Later", "idempotencyKey": "vo", "validateOnly": true})
		if o := a.create(a.key, map[string]any{"name": "Later", "idempotencyKey": "vo"})["organization"]; o == nil {
			t.Errorf("the key was spent by validateOnly")
		}
	})
}
