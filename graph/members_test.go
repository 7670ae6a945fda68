package graph_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"orgs/domain"
)

const updateRoleMutation = `mutation($input: UpdateMemberRoleInput!) {
  updateMemberRole(input: $input) {
    clientMutationId member { id email role status } userErrors { field code message }
  }
}`

const removeMemberMutation = `mutation($id: ID!) {
  removeMember(input: {clientMutationId: "rm", memberId: $id}) {
    clientMutationId removedMemberId userErrors { field code message }
  }
}`

// addMember makes a new user of the tenant an ACTIVE member of the organization with role, directly in
// the database (as an accepted invitation would), and returns the membership's id.
func (a *api) addMember(orgID, email, role string) string {
	a.t.Helper()
	var userID string
	memberID := uuid.NewString()
	if err := a.store.DB().Get(&userID, `INSERT INTO users (tenant_id, id, email, name) VALUES ($1, $2, $3, $3)
ON CONFLICT (tenant_id, lower(email)) DO UPDATE SET name = EXCLUDED.name RETURNING id`, a.actor.TenantID, uuid.NewString(), email); err != nil {
		a.t.Fatal(err)
	}
	a.store.DB().MustExec(`INSERT INTO memberships (tenant_id, id, organization_id, user_id, role, status, joined_at, created_at)
VALUES ($1, $2, $3, $4, $5, 'ACTIVE', now(), clock_timestamp())`, a.actor.TenantID, memberID, orgID, userID, role)
	a.store.DB().MustExec(`UPDATE organizations SET member_count = member_count + 1 WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, orgID)
	return memberID
}

// removeOrgInSQL deletes the organization the way deleteOrganization does: REMOVED, its domains released.
func (a *api) removeOrgInSQL(orgID string) {
	a.t.Helper()
	a.store.DB().MustExec(`UPDATE organizations SET status = 'REMOVED', removed_at = now() WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, orgID)
	a.store.DB().MustExec(`UPDATE organization_domains SET released = true WHERE tenant_id = $1 AND organization_id = $2`, a.actor.TenantID, orgID)
}

// ownerMemberID returns the id of the creator's OWNER membership of the organization.
func (a *api) ownerMemberID(orgID string) string {
	a.t.Helper()
	var id string
	if err := a.store.DB().Get(&id, `SELECT id FROM memberships WHERE tenant_id = $1 AND organization_id = $2 AND user_id = $3`,
		a.actor.TenantID, orgID, a.actor.UserID); err != nil {
		a.t.Fatal(err)
	}
	return id
}

// setRole runs updateMemberRole and returns its payload.
func (a *api) setRole(key string, input map[string]any) map[string]any {
	a.t.Helper()
	r := a.post(key, updateRoleMutation, map[string]any{"input": input})
	p, ok := r.Data["updateMemberRole"].(map[string]any)
	if !ok {
		a.t.Fatalf("updateMemberRole: %s", r.Raw)
	}
	return p
}

// removeMember runs removeMember and returns its payload.
func (a *api) removeMember(key, id string) map[string]any {
	a.t.Helper()
	r := a.post(key, removeMemberMutation, map[string]any{"id": id})
	p, ok := r.Data["removeMember"].(map[string]any)
	if !ok {
		a.t.Fatalf("removeMember: %s", r.Raw)
	}
	return p
}

// activeOwners returns the ids of the organization's ACTIVE OWNER memberships, as stored.
func (a *api) activeOwners(orgID string) []string {
	a.t.Helper()
	var ids []string
	if err := a.store.DB().Select(&ids, `SELECT id FROM memberships WHERE tenant_id = $1 AND organization_id = $2
AND role = 'OWNER' AND status = 'ACTIVE' ORDER BY id`, a.actor.TenantID, orgID); err != nil {
		a.t.Fatal(err)
	}
	return ids
}

func TestUpdateMemberRole(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	orgID := a.createOK(map[string]any{"name": "Stark Industries"})["id"].(string)
	owner := a.ownerMemberID(orgID)
	pepper := a.addMember(orgID, "pepper@stark.test", "MEMBER")

	// The only owner cannot step down.
	p := a.setRole(a.key, map[string]any{"memberId": owner, "role": "ADMIN"})
	if e := wantUserError(t, "demoting the only owner", p, "input.memberId", "LAST_OWNER"); p["member"] != nil || !strings.Contains(e.Message, a.actor.Email) {
		t.Errorf("payload %v", p)
	}

	p = a.setRole(a.key, map[string]any{"memberId": pepper, "role": "OWNER", "expectedSequence": 1, "clientMutationId": "c1"})
	if m, _ := p["member"].(map[string]any); len(userErrors(p)) != 0 || m["role"] != "OWNER" || m["id"] != pepper || p["clientMutationId"] != "c1" {
		t.Fatalf("promotion: %v", p)
	}
	// Two owners now: the first may step down.
	p = a.setRole(a.key, map[string]any{"memberId": owner, "role": "MEMBER"})
	if m, _ := p["member"].(map[string]any); len(userErrors(p)) != 0 || m["role"] != "MEMBER" {
		t.Fatalf("demotion: %v", p)
	}
	p = a.setRole(a.key, map[string]any{"memberId": pepper, "role": "ADMIN"})
	wantUserError(t, "demoting the new only owner", p, "input.memberId", "LAST_OWNER")

	// The same role changes nothing; a stale expectedSequence changes nothing either.
	_, seq := a.invEvents(orgID, 0)
	if p := a.setRole(a.key, map[string]any{"memberId": pepper, "role": "OWNER"}); len(userErrors(p)) != 0 || p["member"].(map[string]any)["role"] != "OWNER" {
		t.Errorf("same role: %v", p)
	}
	p = a.setRole(a.key, map[string]any{"memberId": owner, "role": "ADMIN", "expectedSequence": 1})
	if e := wantUserError(t, "a stale sequence", p, "input.expectedSequence", "STALE_OBJECT"); !strings.Contains(e.Message, fmt.Sprint(seq)) {
		t.Errorf("message %q lacks the current sequence %d", e.Message, seq)
	}
	es, after := a.invEvents(orgID, 1)
	if after != seq || invEventTypes(es) != "2:member.role_changed 3:member.role_changed" {
		t.Fatalf("events %s, sequence %d (was %d)", invEventTypes(es), after, seq)
	}
	if es[0].Changes != "members."+pepper+".role:MEMBER->OWNER" || es[1].Changes != "members."+owner+".role:OWNER->MEMBER" ||
		es[0].Data["memberId"] != pepper || es[0].Data["email"] != "pepper@stark.test" {
		t.Errorf("events %+v", es)
	}
	_, members := a.orgMembers(orgID)
	if fmt.Sprint(members) != fmt.Sprintf("[pepper@stark.test:OWNER:ACTIVE %s:MEMBER:ACTIVE]", a.actor.Email) {
		t.Errorf("members %v", members)
	}

	// Without ORGANIZATION_UPDATE: FORBIDDEN, nothing written.
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	r := a.post(reader, updateRoleMutation, map[string]any{"input": map[string]any{"memberId": owner, "role": "OWNER"}})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["permission"] != "ORGANIZATION_UPDATE" {
		t.Errorf("without permission: %s", r.Raw)
	}
	r = a.post(reader, removeMemberMutation, map[string]any{"id": owner})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("removeMember without permission: %s", r.Raw)
	}
	if _, now := a.invEvents(orgID, 0); now != seq || len(a.activeOwners(orgID)) != 1 {
		t.Errorf("a refused call wrote something")
	}

	// Another tenant's members, unknown ids and members of removed organizations are not found.
	other := newAPIInOtherTenant(t)
	for _, id := range []string{pepper, "nope", uuid.NewString()} {
		wantUserError(t, "another tenant's "+id, other.setRole(other.key, map[string]any{"memberId": id, "role": "MEMBER"}), "input.memberId", "NOT_FOUND")
		wantUserError(t, "removing another tenant's "+id, other.removeMember(other.key, id), "input.memberId", "NOT_FOUND")
	}
	a.removeOrgInSQL(orgID)
	wantUserError(t, "a removed organization's member", a.setRole(a.key, map[string]any{"memberId": owner, "role": "OWNER"}), "input.memberId", "NOT_FOUND")
	wantUserError(t, "removing a removed organization's member", a.removeMember(a.key, owner), "input.memberId", "NOT_FOUND")
}

func TestRemoveMember(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	org := a.createOK(map[string]any{"name": "Wayne Enterprises", "emailConfirmationLandingPage": "https://app.example.com/confirm",
		"primaryAdministrator": map[string]any{"firstName": "Lucius", "lastName": "Fox", "email": "lucius@wayne.test"}})
	orgID := org["id"].(string)
	owner := a.ownerMemberID(orgID)
	var lucius string
	for _, m := range org["members"].([]any) {
		if m := m.(map[string]any); m["email"] == "lucius@wayne.test" {
			lucius = m["id"].(string)
		}
	}
	alfred := a.addMember(orgID, "alfred@wayne.test", "ADMIN")

	if e := wantUserError(t, "removing the only owner", a.removeMember(a.key, owner), "input.memberId", "LAST_OWNER"); e.Message == "" {
		t.Error("no message")
	}

	p := a.removeMember(a.key, alfred)
	if len(userErrors(p)) != 0 || p["removedMemberId"] != alfred || p["clientMutationId"] != "rm" {
		t.Fatalf("removeMember: %v", p)
	}
	wantUserError(t, "removing twice", a.removeMember(a.key, alfred), "input.memberId", "NOT_FOUND")

	// The primary administrator may go (an owner remains): the organization has none any more.
	if p := a.removeMember(a.key, lucius); len(userErrors(p)) != 0 {
		t.Fatalf("removing the primary administrator: %v", p)
	}
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { totalMembers primaryAdministrator { id } members { email } } }`, map[string]any{"id": orgID})
	if got := fmt.Sprint(r.Data["organization"]); got != fmt.Sprintf("map[members:[map[email:%s]] primaryAdministrator:<nil> totalMembers:1]", a.actor.Email) {
		t.Errorf("after the removals: %s", got)
	}
	var emailConfirmations int
	a.store.DB().Get(&emailConfirmations, `SELECT count(*) FROM email_confirmations WHERE tenant_id = $1`, a.actor.TenantID)
	if emailConfirmations != 0 {
		t.Errorf("%d confirmations of removed members left", emailConfirmations)
	}

	es, seq := a.invEvents(orgID, 1)
	if invEventTypes(es) != "2:member.removed 3:member.removed" || seq != 3 {
		t.Fatalf("events %s, sequence %d", invEventTypes(es), seq)
	}
	if es[0].Changes != "members."+alfred+".role:ADMIN-><nil>" || es[0].Data["email"] != "alfred@wayne.test" || es[0].Data["memberId"] != alfred {
		t.Errorf("first member.removed = %+v", es[0])
	}
	if !strings.HasPrefix(es[1].Changes, "members."+lucius+".role:ADMIN-><nil>,primaryAdministratorId:") || es[1].Data["status"] != "INVITED" {
		t.Errorf("second member.removed = %+v", es[1])
	}
	// The removed members' users stay: invited again, they join as new members.
	var users int
	a.store.DB().Get(&users, `SELECT count(*) FROM users WHERE tenant_id = $1 AND email IN ('lucius@wayne.test', 'alfred@wayne.test')`, a.actor.TenantID)
	if users != 2 {
		t.Errorf("%d of the removed members' users left, want 2", users)
	}
}

// TestLastOwnerUnderConcurrency runs 20 concurrent demotions and removals of the owners of an
// organization with n owners: exactly one ACTIVE OWNER is left, every call on the others succeeds, and
// every call on the one left is LAST_OWNER.
func TestLastOwnerUnderConcurrency(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3, 7, 20} {
		t.Run(fmt.Sprintf("%dOwners", n), func(t *testing.T) {
			t.Parallel()
			a := newAPI(t)
			orgID := a.createOK(map[string]any{"name": fmt.Sprintf("Owned %d", n)})["id"].(string)
			owners := []string{a.ownerMemberID(orgID)}
			for i := 1; i < n; i++ {
				owners = append(owners, a.addMember(orgID, fmt.Sprintf("owner%d@owned.test", i), "OWNER"))
			}
			_, seq := a.invEvents(orgID, 0)

			type outcome struct{ target, op, code string }
			results := make([]outcome, 20)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range results {
				target := owners[i%n]
				// The first call on each owner is a removal for odd owners, every other call a demotion.
				op := "demote"
				if i < n && i%2 == 1 {
					op = "remove"
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					var r response
					if op == "remove" {
						r = a.post(a.key, removeMemberMutation, map[string]any{"id": target})
					} else {
						r = a.post(a.key, updateRoleMutation, map[string]any{"input": map[string]any{"memberId": target, "role": []string{"ADMIN", "MEMBER"}[i%2]}})
					}
					code := "ok"
					var p map[string]any
					for _, v := range r.Data {
						p, _ = v.(map[string]any)
					}
					if p == nil {
						code = "error: " + r.Raw
					} else if errs := userErrors(p); len(errs) > 0 {
						code = errs[0].Code
					}
					results[i] = outcome{target, op, code}
				}()
			}
			close(start)
			wg.Wait()

			left := a.activeOwners(orgID)
			if len(left) != 1 {
				t.Fatalf("%d active owners left, want 1: %v", len(left), results)
			}
			removed := map[string]bool{}
			changed := 0
			for _, r := range results {
				if r.op == "remove" && r.code == "ok" {
					removed[r.target] = true
				}
			}
			lastOwner := 0
			for _, r := range results {
				switch {
				case r.target == left[0] && r.code != "LAST_OWNER":
					t.Errorf("a call on the owner left did not fail with LAST_OWNER: %+v", r)
				case r.target != left[0] && r.code == "LAST_OWNER":
					t.Errorf("a call on an owner now gone failed with LAST_OWNER: %+v", r)
				case r.target != left[0] && r.code != "ok" && !(r.code == "NOT_FOUND" && removed[r.target]):
					t.Errorf("call %+v failed", r)
				}
				if r.code == "LAST_OWNER" {
					lastOwner++
				}
			}
			// Every owner but one changed: its role, or its membership, once each, with an event each.
			es, after := a.invEvents(orgID, seq)
			sort.Slice(es, func(i, j int) bool { return es[i].Sequence < es[j].Sequence })
			seen := map[string]bool{}
			for _, e := range es {
				id := e.Data["memberId"].(string)
				if strings.Contains(e.Changes, ".role:OWNER->") {
					if seen[id] {
						t.Errorf("owner %s lost the role twice", id)
					}
					seen[id] = true
					changed++
				}
			}
			if changed != n-1 || after != seq+len(es) || lastOwner < 20/n || lastOwner > 20 {
				t.Errorf("%d owners changed (want %d), %d LAST_OWNER, events %s", changed, n-1, lastOwner, invEventTypes(es))
			}
			total, members := a.orgMembers(orgID)
			if total != len(members) || total != n-len(removed) {
				t.Errorf("totalMembers %d, %d members, want %d", total, len(members), n-len(removed))
			}
		})
	}
}

// TestLastTwoOwnersDemotedAtOnce demotes the last two owners of an organization at the same time, ten
// times over: one succeeds, the other is LAST_OWNER.
func TestLastTwoOwnersDemotedAtOnce(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for round := range 10 {
		orgID := a.createOK(map[string]any{"name": fmt.Sprintf("Pair %d", round)})["id"].(string)
		owners := []string{a.ownerMemberID(orgID), a.addMember(orgID, fmt.Sprintf("second%d@pair.test", round), "OWNER")}
		codes := make([]string, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, id := range owners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := a.post(a.key, updateRoleMutation, map[string]any{"input": map[string]any{"memberId": id, "role": "ADMIN"}})
				p, _ := r.Data["updateMemberRole"].(map[string]any)
				codes[i] = "ok"
				if p == nil {
					codes[i] = r.Raw
				} else if errs := userErrors(p); len(errs) > 0 {
					codes[i] = errs[0].Field + " " + errs[0].Code
				}
			}()
		}
		close(start)
		wg.Wait()
		sort.Strings(codes)
		if fmt.Sprint(codes) != "[input.memberId LAST_OWNER ok]" || len(a.activeOwners(orgID)) != 1 {
			t.Errorf("round %d: %v, %d owners left", round, codes, len(a.activeOwners(orgID)))
		}
	}
}
