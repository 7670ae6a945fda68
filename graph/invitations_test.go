package graph_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"orgs/db"
	"orgs/domain"
	"orgs/mail/mailtest"
)

const inviteMutation = `mutation($input: InviteMemberInput!) {
  inviteMember(input: $input) {
    clientMutationId
    invitation { id organizationId email role status expiresAt invitedBy createdAt }
    userErrors { field code message }
  }
}`

const resendMutation = `mutation($id: ID!) {
  resendInvitation(input: {clientMutationId: "r", id: $id}) {
    clientMutationId invitation { id status expiresAt } userErrors { field code message }
  }
}`

const revokeMutation = `mutation($id: ID!) {
  revokeInvitation(input: {clientMutationId: "v", id: $id}) {
    clientMutationId invitation { id status } userErrors { field code message }
  }
}`

const acceptMutation = `mutation($token: String!) {
  acceptInvitation(token: $token) {
    member { id userId email name role status joinedAt emailVerified user { firstName lastName name } }
    userErrors { field code message }
  }
}`

// invitePayload runs inviteMember with input and returns its payload.
func (a *api) invitePayload(key string, input map[string]any) map[string]any {
	a.t.Helper()
	r := a.post(key, inviteMutation, map[string]any{"input": input})
	p, ok := r.Data["inviteMember"].(map[string]any)
	if !ok {
		a.t.Fatalf("inviteMember: %s", r.Raw)
	}
	return p
}

// inviteOK invites email to the organization orgID with the other fields of extra, and returns the
// invitation.
func (a *api) inviteOK(orgID, email string, extra map[string]any) map[string]any {
	a.t.Helper()
	input := map[string]any{"organizationId": orgID, "email": email, "landingPage": "https://app.example.com/join?ref=invite"}
	for k, v := range extra {
		input[k] = v
	}
	p := a.invitePayload(a.key, input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("inviteMember(%s): %+v", email, errs)
	}
	return p["invitation"].(map[string]any)
}

// invitationCall runs resendInvitation or revokeInvitation (by its mutation) on id and returns the
// payload.
func (a *api) invitationCall(mutation, name, id string) map[string]any {
	a.t.Helper()
	r := a.post(a.key, mutation, map[string]any{"id": id})
	p, ok := r.Data[name].(map[string]any)
	if !ok {
		a.t.Fatalf("%s: %s", name, r.Raw)
	}
	return p
}

// acceptPayload runs acceptInvitation with key and returns its payload.
func (a *api) acceptPayload(key, token string) map[string]any {
	a.t.Helper()
	r := a.post(key, acceptMutation, map[string]any{"token": token})
	p, ok := r.Data["acceptInvitation"].(map[string]any)
	if !ok {
		a.t.Fatalf("acceptInvitation: %s", r.Raw)
	}
	return p
}

// wantUserError fails unless the payload has exactly one userError, with code at field (dotted).
func wantUserError(t *testing.T, what string, payload map[string]any, field, code string) userError {
	t.Helper()
	errs := userErrors(payload)
	if len(errs) != 1 || errs[0].Field != field || errs[0].Code != code {
		t.Errorf("%s: userErrors %+v, want one %s at %s", what, errs, code, field)
		return userError{}
	}
	return errs[0]
}

// wantInvalidToken fails unless accepting token is refused as INVALID_VALUE at ["token"].
func (a *api) wantInvalidToken(key, token, what string) userError {
	a.t.Helper()
	p := a.acceptPayload(key, token)
	if p["member"] != nil {
		a.t.Errorf("%s: accepted: %v", what, p["member"])
	}
	return wantUserError(a.t, what, p, "token", "INVALID_VALUE")
}

var invitationLink = regexp.MustCompile(`https://app\.example\.com/join\?\S+`)

// invitationToken returns the token of the link in the text part of message msg.
func invitationToken(t *testing.T, msg mailtest.Received) string {
	t.Helper()
	_, body := textBody(t, msg.Data)
	link, err := url.Parse(invitationLink.FindString(body))
	if err != nil || link.Query().Get("ref") != "invite" || len(link.Query().Get("token")) < 40 {
		t.Fatalf("no link with a token in:\n%s", body)
	}
	return link.Query().Get("token")
}

// invCountIn counts the rows of table that belong to the organization orgID.
func (a *api) invCountIn(table, orgID string) int {
	a.t.Helper()
	var n int
	if err := a.store.DB().Get(&n, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1 AND organization_id = $2`, a.actor.TenantID, orgID); err != nil {
		a.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// invEvent is an event of an organization's log as read back.
type invEvent struct {
	Sequence int
	Type     string
	Changes  string
	Data     map[string]any
}

// invEvents reads the organization's events after sequence after, and its details.sequence.
func (a *api) invEvents(orgID string, after int) ([]invEvent, int) {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { details { sequence }
  events(first: 100) { totalCount nodes { sequence type changes { field from to } data } } } }`, map[string]any{"id": orgID})
	o, ok := r.Data["organization"].(map[string]any)
	if !ok {
		a.t.Fatalf("events: %s", r.Raw)
	}
	var out []invEvent
	for _, n := range o["events"].(map[string]any)["nodes"].([]any) {
		e := n.(map[string]any)
		seq := int(e["sequence"].(float64))
		if seq <= after {
			continue
		}
		var changes []string
		for _, c := range e["changes"].([]any) {
			c := c.(map[string]any)
			changes = append(changes, fmt.Sprintf("%v:%v->%v", c["field"], c["from"], c["to"]))
		}
		data, _ := e["data"].(map[string]any)
		out = append(out, invEvent{Sequence: seq, Type: e["type"].(string), Changes: strings.Join(changes, ","), Data: data})
	}
	seq := int(o["details"].(map[string]any)["sequence"].(float64))
	if total := int(o["events"].(map[string]any)["totalCount"].(float64)); total != seq {
		a.t.Errorf("%d events, details.sequence %d", total, seq)
	}
	return out, seq
}

// invEventTypes lists the types of events as "sequence:type".
func invEventTypes(es []invEvent) string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%d:%s", e.Sequence, e.Type))
	}
	return strings.Join(out, " ")
}

// orgMembers reads the organization's totalMembers and its members as "email:role:status".
func (a *api) orgMembers(orgID string) (int, []string) {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { totalMembers members { email role status } } }`, map[string]any{"id": orgID})
	o, ok := r.Data["organization"].(map[string]any)
	if !ok {
		a.t.Fatalf("members: %s", r.Raw)
	}
	var out []string
	for _, m := range o["members"].([]any) {
		m := m.(map[string]any)
		out = append(out, fmt.Sprintf("%v:%v:%v", m["email"], m["role"], m["status"]))
	}
	return int(o["totalMembers"].(float64)), out
}

func TestInvitationAcceptedOnce(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	org := a.createOK(map[string]any{"name": "Acme Rockets"})
	orgID := org["id"].(string)

	before := time.Now()
	inv := a.inviteOK(orgID, "Nora.New@acme.test", map[string]any{"role": "ADMIN", "firstName": " Nora ", "lastName": "New",
		"expiresInDays": 3, "clientMutationId": "i1"})
	expiresAt, _ := time.Parse(time.RFC3339Nano, inv["expiresAt"].(string))
	if inv["status"] != "PENDING" || inv["role"] != "ADMIN" || inv["email"] != "Nora.New@acme.test" || inv["organizationId"] != orgID ||
		inv["invitedBy"] != a.actor.UserID || expiresAt.Before(before.Add(72*time.Hour-time.Minute)) || expiresAt.After(time.Now().Add(72*time.Hour)) {
		t.Errorf("invitation = %v", inv)
	}

	// The email arrives over SMTP with a link to the landing page that carries the token.
	msgs := smtpServer.WaitForMessages(t, 1, 10*time.Second)
	msg, body := textBody(t, msgs[0].Data)
	subject := msg.Header.Get("Subject")
	if msgs[0].To[0] != "Nora.New@acme.test" || !strings.Contains(subject, "Acme Rockets") || !strings.Contains(subject, "User "+t.Name()) {
		t.Errorf("email to %v, subject %q", msgs[0].To, subject)
	}
	for _, want := range []string{"Hello Nora,", "User " + t.Name() + " invited you to join Acme Rockets as an admin",
		"expires on " + expiresAt.UTC().Format("January 2, 2006")} {
		if !strings.Contains(body, want) {
			t.Errorf("the email's text lacks %q:\n%s", want, body)
		}
	}
	if raw := string(msgs[0].Data); !strings.Contains(raw, "text/html") || !strings.Contains(raw, "Accept the invitation") {
		t.Errorf("no HTML part with a link:\n%s", raw)
	}
	token := invitationToken(t, msgs[0])
	hash := sha256.Sum256([]byte(token))
	var byHash, inClear int
	a.store.DB().Get(&byHash, `SELECT count(*) FROM invitations WHERE tenant_id = $1 AND token_hash = $2`, a.actor.TenantID, hash[:])
	a.store.DB().Get(&inClear, `SELECT count(*) FROM invitations WHERE position($1::bytea in token_hash) > 0`, []byte(token))
	if byHash != 1 || inClear != 0 {
		t.Errorf("the token is not stored as its SHA-256 only: %d by hash, %d in clear", byHash, inClear)
	}

	// Another tenant's key cannot spend it.
	outsider, _ := a.newKeyIn("elsewhere "+t.Name()+" "+runID, "outsider", domain.AllPermissions...)
	a.wantInvalidToken(outsider, token, "another tenant's key")

	// Any key of the tenant can, without any permission: the token is the proof.
	bare, _ := a.newKey("landing-page-backend")
	p := a.acceptPayload(bare, token)
	m, _ := p["member"].(map[string]any)
	if len(userErrors(p)) != 0 || m == nil {
		t.Fatalf("acceptInvitation: %v", p)
	}
	user := m["user"].(map[string]any)
	if m["email"] != "Nora.New@acme.test" || m["role"] != "ADMIN" || m["status"] != "ACTIVE" || m["joinedAt"] == nil ||
		m["emailVerified"] != true || m["name"] != "Nora New" || user["firstName"] != "Nora" || user["lastName"] != "New" {
		t.Errorf("member = %v", m)
	}
	total, members := a.orgMembers(orgID)
	if total != 2 || len(members) != 2 || members[1] != "Nora.New@acme.test:ADMIN:ACTIVE" {
		t.Errorf("after acceptance: totalMembers %d, members %v", total, members)
	}

	// Once only.
	a.wantInvalidToken(bare, token, "a used token")
	a.wantInvalidToken(bare, "not-a-token", "an unknown token")
	if total, _ := a.orgMembers(orgID); total != 2 {
		t.Errorf("totalMembers %d after the second acceptance, want 2", total)
	}

	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { invitations { totalCount nodes { id status } } } }`, map[string]any{"id": orgID})
	if got := fmt.Sprint(r.Data["organization"]); got != fmt.Sprintf("map[invitations:map[nodes:[map[id:%s status:ACCEPTED]] totalCount:1]]", inv["id"]) {
		t.Errorf("invitations = %s", got)
	}

	es, seq := a.invEvents(orgID, 1)
	if got := invEventTypes(es); got != "2:member.invited 3:member.joined" || seq != 3 {
		t.Fatalf("events %s, sequence %d", got, seq)
	}
	if es[0].Data["invitationId"] != inv["id"] || es[0].Data["email"] != "Nora.New@acme.test" || es[0].Data["role"] != "ADMIN" ||
		es[0].Changes != fmt.Sprintf("invitations.%s.status:<nil>->PENDING", inv["id"]) {
		t.Errorf("member.invited = %+v", es[0])
	}
	if es[1].Data["memberId"] != m["id"] || es[1].Data["invitationId"] != inv["id"] ||
		es[1].Changes != fmt.Sprintf("members.%s.role:<nil>->ADMIN,invitations.%s.status:PENDING->ACCEPTED", m["id"], inv["id"]) {
		t.Errorf("member.joined = %+v", es[1])
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(smtpServer.Messages()); n != 1 {
		t.Errorf("%d emails, want 1", n)
	}
}

func TestInvitationRevokedAndResent(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	orgID := a.createOK(map[string]any{"name": "Globex"})["id"].(string)
	revoked := a.inviteOK(orgID, "rita@globex.test", nil)
	resent := a.inviteOK(orgID, "sam@globex.test", map[string]any{"expiresInDays": 2})
	msgs := smtpServer.WaitForMessages(t, 2, 10*time.Second)
	tokens := map[string]string{}
	for _, msg := range msgs {
		tokens[msg.To[0]] = invitationToken(t, msg)
	}

	// Revoked: its token is refused.
	p := a.invitationCall(revokeMutation, "revokeInvitation", revoked["id"].(string))
	if inv, _ := p["invitation"].(map[string]any); len(userErrors(p)) != 0 || inv["status"] != "REVOKED" || p["clientMutationId"] != "v" {
		t.Errorf("revokeInvitation = %v", p)
	}
	a.wantInvalidToken(a.key, tokens["rita@globex.test"], "a revoked token")
	wantUserError(t, "revoking twice", a.invitationCall(revokeMutation, "revokeInvitation", revoked["id"].(string)), "input.id", "INVALID_STATE")
	wantUserError(t, "resending a revoked invitation", a.invitationCall(resendMutation, "resendInvitation", revoked["id"].(string)), "input.id", "INVALID_STATE")
	// A revoked invitation does not hold the address: it can be invited again.
	a.inviteOK(orgID, "RITA@globex.test", nil)

	// Resent: a new email with a new token; the old token is dead at once, the new one works.
	time.Sleep(10 * time.Millisecond)
	p = a.invitationCall(resendMutation, "resendInvitation", resent["id"].(string))
	inv, _ := p["invitation"].(map[string]any)
	if len(userErrors(p)) != 0 || inv["status"] != "PENDING" || inv["id"] != resent["id"] || p["clientMutationId"] != "r" {
		t.Fatalf("resendInvitation = %v", p)
	}
	oldExpiry, _ := time.Parse(time.RFC3339Nano, resent["expiresAt"].(string))
	newExpiry, _ := time.Parse(time.RFC3339Nano, inv["expiresAt"].(string))
	if !newExpiry.After(oldExpiry) || time.Until(newExpiry) > 48*time.Hour || time.Until(newExpiry) < 47*time.Hour {
		t.Errorf("resent expiry %v (first %v): want 2 days from now", newExpiry, oldExpiry)
	}
	msgs = smtpServer.WaitForMessages(t, 4, 10*time.Second)
	var second []mailtest.Received
	for _, msg := range msgs {
		if msg.To[0] == "sam@globex.test" {
			second = append(second, msg)
		}
	}
	if len(second) != 2 {
		t.Fatalf("%d emails to sam, want 2", len(second))
	}
	newToken := invitationToken(t, second[1])
	if newToken == tokens["sam@globex.test"] {
		t.Fatal("the resent email carries the old token")
	}
	a.wantInvalidToken(a.key, tokens["sam@globex.test"], "the token before the resend")
	if p := a.acceptPayload(a.key, newToken); len(userErrors(p)) != 0 || p["member"] == nil {
		t.Errorf("accepting the resent token: %v", p)
	}

	es, seq := a.invEvents(orgID, 1)
	if got := invEventTypes(es); got != "2:member.invited 3:member.invited 4:invitation.revoked 5:member.invited 6:invitation.resent 7:member.joined" || seq != 7 {
		t.Errorf("events %s, sequence %d", got, seq)
	}
	if len(es) == 6 {
		if es[2].Changes != fmt.Sprintf("invitations.%s.status:PENDING->REVOKED", revoked["id"]) || es[2].Data["email"] != "rita@globex.test" {
			t.Errorf("invitation.revoked = %+v", es[2])
		}
		if !strings.HasPrefix(es[4].Changes, fmt.Sprintf("invitations.%s.expiresAt:", resent["id"])) || es[4].Data["invitationId"] != resent["id"] {
			t.Errorf("invitation.resent = %+v", es[4])
		}
	}
}

func TestInvitationExpired(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	orgID := a.createOK(map[string]any{"name": "Hooli"})["id"].(string)
	inv := a.inviteOK(orgID, "late@hooli.test", nil)
	token := invitationToken(t, smtpServer.WaitForMessages(t, 1, 10*time.Second)[0])
	a.store.DB().MustExec(`UPDATE invitations SET expires_at = now() - interval '1 second' WHERE tenant_id = $1`, a.actor.TenantID)

	if e := a.wantInvalidToken(a.key, token, "an expired token"); !strings.Contains(e.Message, "expired") {
		t.Errorf("message %q does not say it expired", e.Message)
	}
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { invitations(status: EXPIRED) { totalCount nodes { id status } } } }`, map[string]any{"id": orgID})
	if got := fmt.Sprint(r.Data["organization"]); got != fmt.Sprintf("map[invitations:map[nodes:[map[id:%s status:EXPIRED]] totalCount:1]]", inv["id"]) {
		t.Errorf("expired invitations = %s", got)
	}
	wantUserError(t, "resending an expired invitation", a.invitationCall(resendMutation, "resendInvitation", inv["id"].(string)), "input.id", "INVALID_STATE")
	wantUserError(t, "revoking an expired invitation", a.invitationCall(revokeMutation, "revokeInvitation", inv["id"].(string)), "input.id", "INVALID_STATE")

	// An expired invitation does not hold the address; the old one stays EXPIRED, the new token works.
	again := a.inviteOK(orgID, "late@hooli.test", nil)
	newToken := invitationToken(t, smtpServer.WaitForMessages(t, 2, 10*time.Second)[1])
	a.wantInvalidToken(a.key, token, "the expired token after a new invitation")
	if p := a.acceptPayload(a.key, newToken); len(userErrors(p)) != 0 {
		t.Errorf("accepting the new invitation: %v", p)
	}
	r = a.post(a.key, `query($id: ID!) { organization(id: $id) { invitations { nodes { id status } } } }`, map[string]any{"id": orgID})
	want := fmt.Sprintf("map[invitations:map[nodes:[map[id:%s status:ACCEPTED] map[id:%s status:EXPIRED]]]]", again["id"], inv["id"])
	if got := fmt.Sprint(r.Data["organization"]); got != want {
		t.Errorf("invitations = %s, want %s", got, want)
	}
}

func TestInvitationOrganizationNotActive(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	orgID := a.createOK(map[string]any{"name": "Vandelay"})["id"].(string)
	a.inviteOK(orgID, "before@vandelay.test", nil)
	token := invitationToken(t, smtpServer.WaitForMessages(t, 1, 10*time.Second)[0])
	a.store.DB().MustExec(`UPDATE organizations SET status = 'INACTIVE' WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, orgID)
	_, seq := a.invEvents(orgID, 0)

	// An inactive organization takes no invitation, and its pending ones cannot be accepted or resent.
	p := a.invitePayload(a.key, map[string]any{"organizationId": orgID, "email": "after@vandelay.test", "landingPage": "https://app.example.com/join"})
	wantUserError(t, "inviting to an inactive organization", p, "input.organizationId", "INVALID_STATE")
	if e := a.wantInvalidToken(a.key, token, "accepting for an inactive organization"); !strings.Contains(e.Message, "INACTIVE") {
		t.Errorf("message %q does not say why", e.Message)
	}
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { invitations { nodes { id } } } }`, map[string]any{"id": orgID})
	id := r.Data["organization"].(map[string]any)["invitations"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["id"].(string)
	wantUserError(t, "resending for an inactive organization", a.invitationCall(resendMutation, "resendInvitation", id), "input.id", "INVALID_STATE")
	if _, after := a.invEvents(orgID, 0); after != seq || a.invCountIn("invitations", orgID) != 1 {
		t.Errorf("something was written: sequence %d -> %d, %d invitations", seq, after, a.count("invitations"))
	}

	// Reactivated, the pending invitation works again.
	a.store.DB().MustExec(`UPDATE organizations SET status = 'ACTIVE' WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, orgID)
	if p := a.acceptPayload(a.key, token); len(userErrors(p)) != 0 {
		t.Errorf("accepting after reactivation: %v", p)
	}

	// A removed organization is not found; so is its invitations' organization.
	a.inviteOK(orgID, "gone@vandelay.test", nil)
	token = invitationToken(t, smtpServer.WaitForMessages(t, 2, 10*time.Second)[1])
	a.removeOrgInSQL(orgID)
	p = a.invitePayload(a.key, map[string]any{"organizationId": orgID, "email": "after@vandelay.test", "landingPage": "https://app.example.com/join"})
	wantUserError(t, "inviting to a removed organization", p, "input.organizationId", "NOT_FOUND")
	if e := a.wantInvalidToken(a.key, token, "accepting for a removed organization"); !strings.Contains(e.Message, "no longer exists") {
		t.Errorf("message %q does not say why", e.Message)
	}
}

func TestInvitationExistingUserKeepsProfile(t *testing.T) {
	t.Parallel()
	a, smtpServer := newAPIWithMail(t)
	orgID := a.createOK(map[string]any{"name": "Umbrella"})["id"].(string)
	// The tenant knows this person already: the user behind another key, with a name of their own.
	_, known := a.newKey("Known-Person")
	a.inviteOK(orgID, strings.ToUpper(known.Email), map[string]any{"firstName": "Other", "lastName": "Name", "role": "OWNER"})
	token := invitationToken(t, smtpServer.WaitForMessages(t, 1, 10*time.Second)[0])
	p := a.acceptPayload(a.key, token)
	m, _ := p["member"].(map[string]any)
	if m == nil {
		t.Fatalf("acceptInvitation: %v", p)
	}
	user := m["user"].(map[string]any)
	if m["userId"] != known.UserID || m["email"] != known.Email || m["name"] != "User Known-Person" || user["firstName"] != nil ||
		user["lastName"] != nil || m["role"] != "OWNER" {
		t.Errorf("member = %v, want the existing user %s unchanged", m, known.UserID)
	}
	var users int
	a.store.DB().Get(&users, `SELECT count(*) FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)`, a.actor.TenantID, known.Email)
	if users != 1 {
		t.Errorf("%d users with the address, want 1", users)
	}
}

func TestInvitationTakenAndInvalid(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	orgID := a.createOK(map[string]any{"name": "Initrode"})["id"].(string)
	landing := "https://app.example.com/join"

	// The creator is a member (an OWNER): TAKEN, whatever the case of the address.
	p := a.invitePayload(a.key, map[string]any{"organizationId": orgID, "email": strings.ToUpper(a.actor.Email), "landingPage": landing})
	wantUserError(t, "inviting a member", p, "input.email", "TAKEN")
	// An INVITED member (a primary administrator who has not confirmed) is a member too.
	admin := a.createOK(map[string]any{"name": "Initrode Two", "emailConfirmationLandingPage": landing,
		"primaryAdministrator": map[string]any{"firstName": "Ada", "lastName": "Admin", "email": "ada@initrode.test"}})
	p = a.invitePayload(a.key, map[string]any{"organizationId": admin["id"], "email": "Ada@Initrode.test", "landingPage": landing})
	wantUserError(t, "inviting an INVITED member", p, "input.email", "TAKEN")

	a.inviteOK(orgID, "pat@initrode.test", nil)
	p = a.invitePayload(a.key, map[string]any{"organizationId": orgID, "email": "PAT@initrode.test", "landingPage": landing})
	wantUserError(t, "inviting an address with a pending invitation", p, "input.email", "TAKEN")
	// The same address may be invited to another organization.
	a.inviteOK(admin["id"].(string), "pat@initrode.test", nil)

	// Every violation at once, at its path; nothing written.
	invitations, outbox := a.count("invitations"), a.count("email_outbox")
	r := a.post(a.key, inviteMutation, map[string]any{"input": map[string]any{"organizationId": orgID, "email": "not an address",
		"landingPage": "ftp://app.example.com/join", "expiresInDays": 31, "firstName": " ", "lastName": strings.Repeat("n", 101)}})
	got := fmt.Sprint(userErrors(r.Data["inviteMember"].(map[string]any)))
	for _, want := range []string{"input.email INVALID_FORMAT", "input.landingPage INVALID_FORMAT", "input.expiresInDays INVALID_VALUE",
		"input.firstName BLANK", "input.lastName TOO_LONG"} {
		if !strings.Contains(got, "{"+want) {
			t.Errorf("userErrors lack %s: %s", want, got)
		}
	}
	for _, days := range []int{0, -1} {
		p := a.invitePayload(a.key, map[string]any{"organizationId": orgID, "email": "x@initrode.test", "landingPage": landing, "expiresInDays": days})
		wantUserError(t, fmt.Sprintf("expiresInDays %d", days), p, "input.expiresInDays", "INVALID_VALUE")
	}
	p = a.invitePayload(a.key, map[string]any{"organizationId": orgID, "email": "x@initrode.test", "landingPage": "/join"})
	wantUserError(t, "a relative landing page", p, "input.landingPage", "INVALID_FORMAT")
	if a.count("invitations") != invitations || a.count("email_outbox") != outbox {
		t.Errorf("an invalid invitation wrote something")
	}
	// 30 days is the longest.
	inv := a.inviteOK(orgID, "max@initrode.test", map[string]any{"expiresInDays": 30})
	if e, _ := time.Parse(time.RFC3339Nano, inv["expiresAt"].(string)); time.Until(e) < 30*24*time.Hour-time.Minute {
		t.Errorf("expiresAt %v, want 30 days from now", e)
	}
	inv = a.inviteOK(orgID, "default@initrode.test", nil)
	if e, _ := time.Parse(time.RFC3339Nano, inv["expiresAt"].(string)); time.Until(e) < 7*24*time.Hour-time.Minute || time.Until(e) > 7*24*time.Hour || inv["role"] != "MEMBER" {
		t.Errorf("defaults: %v, want MEMBER for 7 days", inv)
	}
}

func TestInvitationsConnection(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	orgID := a.createOK(map[string]any{"name": "Soylent"})["id"].(string)
	var ids []string // oldest first
	for i := range 5 {
		ids = append(ids, a.inviteOK(orgID, fmt.Sprintf("p%d@soylent.test", i), nil)["id"].(string))
	}
	a.invitationCall(revokeMutation, "revokeInvitation", ids[1])
	a.store.DB().MustExec(`UPDATE invitations SET expires_at = now() - interval '1 hour' WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, ids[3])

	const q = `query($id: ID!, $status: InvitationStatus, $first: Int, $after: String) { organization(id: $id) {
  invitations(status: $status, first: $first, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id status } } } } }`
	page := func(status any, first int, after any) (ids []string, statuses []string, total int, next bool, end any) {
		t.Helper()
		r := a.post(a.key, q, map[string]any{"id": orgID, "status": status, "first": first, "after": after})
		c, ok := r.Data["organization"].(map[string]any)["invitations"].(map[string]any)
		if !ok {
			t.Fatalf("invitations: %s", r.Raw)
		}
		for _, e := range c["edges"].([]any) {
			n := e.(map[string]any)["node"].(map[string]any)
			ids, statuses = append(ids, n["id"].(string)), append(statuses, n["status"].(string))
		}
		info := c["pageInfo"].(map[string]any)
		return ids, statuses, int(c["totalCount"].(float64)), info["hasNextPage"].(bool), info["endCursor"]
	}

	// Newest first, two at a time.
	var all, statuses []string
	var after any
	for pages := 0; ; pages++ {
		got, st, total, next, end := page(nil, 2, after)
		if total != 5 {
			t.Errorf("totalCount %d, want 5", total)
		}
		all, statuses = append(all, got...), append(statuses, st...)
		if !next {
			break
		}
		if pages > 3 {
			t.Fatal("the pages never end")
		}
		after = end
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(all) != fmt.Sprint(want) || fmt.Sprint(statuses) != "[PENDING EXPIRED PENDING REVOKED PENDING]" {
		t.Errorf("pages: %v %v, want %v", all, statuses, want)
	}

	for status, want := range map[string][]string{"PENDING": {ids[4], ids[2], ids[0]}, "REVOKED": {ids[1]}, "EXPIRED": {ids[3]}, "ACCEPTED": nil} {
		got, _, total, _, _ := page(status, 10, nil)
		if fmt.Sprint(got) != fmt.Sprint(want) || total != len(want) {
			t.Errorf("status %s: %v (totalCount %d), want %v", status, got, total, want)
		}
	}
	got, _, total, next, end := page("PENDING", 1, nil)
	got2, _, _, _, _ := page("PENDING", 5, end)
	if fmt.Sprint(got) != fmt.Sprint([]string{ids[4]}) || !next || total != 3 || fmt.Sprint(got2) != fmt.Sprint([]string{ids[2], ids[0]}) {
		t.Errorf("pending paged: %v then %v", got, got2)
	}
}

func TestInvitationAccessAndTenants(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	orgID := a.createOK(map[string]any{"name": "Cyberdyne"})["id"].(string)
	inv := a.inviteOK(orgID, "miles@cyberdyne.test", nil)
	_, seq := a.invEvents(orgID, 0)
	outbox := a.count("email_outbox")

	// Without ORGANIZATION_UPDATE: FORBIDDEN, nothing written.
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	for name, call := range map[string]struct {
		q    string
		vars map[string]any
	}{
		"inviteMember":     {inviteMutation, map[string]any{"input": map[string]any{"organizationId": orgID, "email": "no@cyberdyne.test", "landingPage": "https://app.example.com/join"}}},
		"resendInvitation": {resendMutation, map[string]any{"id": inv["id"]}},
		"revokeInvitation": {revokeMutation, map[string]any{"id": inv["id"]}},
	} {
		r := a.post(reader, call.q, call.vars)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Extensions["permission"] != "ORGANIZATION_UPDATE" {
			t.Errorf("%s without permission: %s", name, r.Raw)
		}
	}
	if _, after := a.invEvents(orgID, 0); after != seq || a.invCountIn("invitations", orgID) != 1 || a.count("email_outbox") != outbox {
		t.Errorf("a refused call wrote something")
	}

	// Another tenant's organization and invitations are not found.
	other := newAPIInOtherTenant(t)
	p := other.invitePayload(other.key, map[string]any{"organizationId": orgID, "email": "x@cyberdyne.test", "landingPage": "https://app.example.com/join"})
	wantUserError(t, "inviting to another tenant's organization", p, "input.organizationId", "NOT_FOUND")
	for _, id := range []string{inv["id"].(string), "not-an-id", "00000000-0000-0000-0000-000000000000"} {
		r := other.post(other.key, revokeMutation, map[string]any{"id": id})
		wantUserError(t, "revoking "+id, r.Data["revokeInvitation"].(map[string]any), "input.id", "NOT_FOUND")
		r = other.post(other.key, resendMutation, map[string]any{"id": id})
		wantUserError(t, "resending "+id, r.Data["resendInvitation"].(map[string]any), "input.id", "NOT_FOUND")
	}
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { invitations { nodes { status } } } }`, map[string]any{"id": orgID})
	if got := fmt.Sprint(r.Data["organization"]); got != "map[invitations:map[nodes:[map[status:PENDING]]]]" {
		t.Errorf("after another tenant's calls: %s", got)
	}
}

// TestRevokePendingInvitations covers what deleteOrganization calls in its change transaction: the
// pending invitations are revoked, an expired one stays EXPIRED, the others keep their status.
func TestRevokePendingInvitations(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	orgID := a.createOK(map[string]any{"name": "Massive Dynamic"})["id"].(string)
	var ids []string
	for i := range 4 {
		ids = append(ids, a.inviteOK(orgID, fmt.Sprintf("p%d@massive.test", i), nil)["id"].(string))
	}
	a.invitationCall(revokeMutation, "revokeInvitation", ids[1])
	a.store.DB().MustExec(`UPDATE invitations SET expires_at = now() - interval '1 hour' WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, ids[2])
	other := a.createOK(map[string]any{"name": "Other Dynamic"})["id"].(string)
	untouched := a.inviteOK(other, "p0@massive.test", nil)["id"].(string)

	var revoked []string
	_, err := a.store.ChangeOrganization(context.Background(), a.actor, orgID, db.ChangeOptions{}, func(ctx context.Context, tx *db.OrganizationTx) error {
		var err error
		if revoked, err = tx.RevokePendingInvitations(ctx); err != nil {
			return err
		}
		tx.Record(domain.Change{Type: domain.EventOrganizationDeleted, Data: map[string]any{"revokedInvitations": revoked}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revoked) != fmt.Sprint([]string{ids[0], ids[3]}) {
		t.Errorf("revoked %v, want %v", revoked, []string{ids[0], ids[3]})
	}
	statuses := map[string]string{}
	for _, org := range []string{orgID, other} {
		r := a.post(a.key, `query($id: ID!) { organization(id: $id) { invitations { nodes { id status } } } }`, map[string]any{"id": org})
		for _, n := range r.Data["organization"].(map[string]any)["invitations"].(map[string]any)["nodes"].([]any) {
			n := n.(map[string]any)
			statuses[n["id"].(string)] = n["status"].(string)
		}
	}
	want := map[string]string{ids[0]: "REVOKED", ids[1]: "REVOKED", ids[2]: "EXPIRED", ids[3]: "REVOKED", untouched: "PENDING"}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
}
