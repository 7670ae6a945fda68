package graph_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"orgs/domain"
)

const projectFields = `id organizationId name slug type mode status isDefault contactEmails
  sendFromEmail { email name } settings { trackers { deepScan realTimeScan } } createdAt updatedAt`

const createProjectMutation = `mutation($input: CreateProjectInput!) {
  createProject(input: $input) { clientMutationId project {` + projectFields + `} userErrors { field message code } }
}`

const updateProjectMutation = `mutation($input: UpdateProjectInput!) {
  updateProject(input: $input) { clientMutationId project {` + projectFields + `} userErrors { field message code } }
}`

const deleteProjectMutation = `mutation($input: DeleteProjectInput!) {
  deleteProject(input: $input) { clientMutationId deletedProjectId userErrors { field message code } }
}`

// changeCall runs a mutation whose argument is input and returns its payload, failing on any error.
func (a *api) changeCall(key, field, query string, input map[string]any) map[string]any {
	a.t.Helper()
	r := a.post(key, query, map[string]any{"input": input})
	if len(r.Errors) > 0 {
		a.t.Fatalf("%s: %s", field, r.Raw)
	}
	return r.Data[field].(map[string]any)
}

// codesOf maps a payload's userErrors by path ("input.name") to code.
func codesOf(payload map[string]any) map[string]string {
	out := map[string]string{}
	for _, e := range userErrors(payload) {
		out[e.Field] = e.Code
	}
	return out
}

// createProjectOK creates a project that must be valid.
func (a *api) createProjectOK(input map[string]any) map[string]any {
	a.t.Helper()
	p := a.changeCall(a.key, "createProject", createProjectMutation, input)
	if errs := userErrors(p); len(errs) != 0 {
		a.t.Fatalf("createProject %v: %+v", input["name"], errs)
	}
	return p["project"].(map[string]any)
}

// loggedEvent is one event of an organization's log as read back through the API.
type loggedEvent struct {
	Sequence int
	Type     string
	Changes  string // fmt of [{field from to}]
	Data     map[string]any
}

// orgEventLog reads the organization's sequence and its events, oldest first.
func (a *api) orgEventLog(orgID string) (int, []loggedEvent) {
	a.t.Helper()
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { details { sequence }
  events(first: 100) { totalCount nodes { sequence type changes { field from to } data } } } }`, map[string]any{"id": orgID})
	if len(r.Errors) > 0 || r.Data["organization"] == nil {
		a.t.Fatalf("events: %s", r.Raw)
	}
	o := r.Data["organization"].(map[string]any)
	conn := o["events"].(map[string]any)
	var out []loggedEvent
	for _, n := range conn["nodes"].([]any) {
		m := n.(map[string]any)
		var changes []string
		for _, c := range m["changes"].([]any) {
			cm := c.(map[string]any)
			changes = append(changes, fmt.Sprintf("%v:%v->%v", cm["field"], cm["from"], cm["to"]))
		}
		data, _ := m["data"].(map[string]any)
		out = append(out, loggedEvent{Sequence: int(m["sequence"].(float64)), Type: m["type"].(string),
			Changes: strings.Join(changes, " "), Data: data})
	}
	if total := int(conn["totalCount"].(float64)); total != len(out) {
		a.t.Errorf("events totalCount %d, read %d", total, len(out))
	}
	return int(o["details"].(map[string]any)["sequence"].(float64)), out
}

// sqlInt runs a query that returns one integer.
func (a *api) sqlInt(q string, args ...any) int {
	a.t.Helper()
	var n int
	if err := a.store.DB().Get(&n, q, args...); err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// defaults returns the number of default projects of the organization, by SQL.
func (a *api) defaults(orgID string) int {
	a.t.Helper()
	return a.sqlInt(`SELECT count(*) FROM projects WHERE tenant_id = $1 AND organization_id = $2 AND is_default`, a.actor.TenantID, orgID)
}

// assertSequenceIsEventCount checks that the organization's sequence is the number of its events.
func (a *api) assertSequenceIsEventCount(orgID string) int {
	a.t.Helper()
	seq := a.sqlInt(`SELECT sequence FROM organizations WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, orgID)
	n := a.sqlInt(`SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND organization_id = $2`, a.actor.TenantID, orgID)
	if seq != n {
		a.t.Errorf("sequence %d, %d events", seq, n)
	}
	return seq
}

func TestCreateProject(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createOK(map[string]any{"name": "Projects Inc", "contactEmails": []string{"ops@projects.test"}})
	id := o["id"].(string)
	defaultID := o["defaultProject"].(map[string]any)["id"]

	p := a.changeCall(a.key, "createProject", createProjectMutation, map[string]any{
		"clientMutationId": "p-1", "organizationId": id, "name": "  Mobile App ", "type": "MOBILE_APP", "mode": "TEST",
		"sendFromEmail": map[string]any{"email": "noreply@projects.test", "name": "Projects"},
		"settings":      map[string]any{"trackers": map[string]any{"deepScan": true}},
	})
	if errs := userErrors(p); len(errs) != 0 || p["clientMutationId"] != "p-1" {
		t.Fatalf("createProject = %v", p)
	}
	got := p["project"].(map[string]any)
	pid := got["id"]
	checkFields(t, "project", got, map[string]any{"organizationId": id, "name": "Mobile App", "slug": "mobile-app",
		"type": "MOBILE_APP", "mode": "TEST", "status": "ACTIVE", "isDefault": false,
		"contactEmails": "[ops@projects.test]", "sendFromEmail": "map[email:noreply@projects.test name:Projects]",
		"settings": "map[trackers:map[deepScan:true realTimeScan:false]]"})
	// The organization lists it after its default project, and its log says so.
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { defaultProject { id } projects { id name } } }`, map[string]any{"id": id})
	org := r.Data["organization"].(map[string]any)
	if org["defaultProject"].(map[string]any)["id"] != defaultID || fmt.Sprint(org["projects"]) !=
		fmt.Sprintf("[map[id:%s name:Default project] map[id:%s name:Mobile App]]", defaultID, pid) {
		t.Errorf("organization = %s", r.Raw)
	}
	seq, events := a.orgEventLog(id)
	if seq != 2 || len(events) != 2 || events[1].Type != "project.created" || events[1].Data["projectId"] != pid {
		t.Errorf("sequence %d, events %+v", seq, events)
	}

	t.Run("NamesUnique", func(t *testing.T) {
		for _, name := range []string{"Default project", "MOBILE APP", " mobile app"} {
			p := a.changeCall(a.key, "createProject", createProjectMutation, map[string]any{"organizationId": id, "name": name})
			if got := codesOf(p); fmt.Sprint(got) != "map[input.name:TAKEN]" || p["project"] != nil {
				t.Errorf("%q: %v", name, p)
			}
		}
		// Another name with the same slug gets a free one.
		got := a.createProjectOK(map[string]any{"organizationId": id, "name": "Mobile-App!"})
		if got["slug"] != "mobile-app-2" {
			t.Errorf("slug = %v, want mobile-app-2", got["slug"])
		}
	})
	t.Run("FieldRules", func(t *testing.T) {
		before := a.count("projects")
		p := a.changeCall(a.key, "createProject", createProjectMutation, map[string]any{"organizationId": id,
			"name": " ", "contactEmails": []string{"ok@x.test", "nope"}, "sendFromEmail": map[string]any{"email": "bad"}})
		want := "map[input.contactEmails.1:INVALID_FORMAT input.name:BLANK input.sendFromEmail.email:INVALID_FORMAT]"
		if got := codesOf(p); fmt.Sprint(got) != want {
			t.Errorf("userErrors = %v, want %v", got, want)
		}
		p = a.changeCall(a.key, "createProject", createProjectMutation, map[string]any{"organizationId": id, "name": strings.Repeat("n", 201)})
		if got := codesOf(p); fmt.Sprint(got) != "map[input.name:TOO_LONG]" {
			t.Errorf("userErrors = %v", got)
		}
		if n := a.count("projects"); n != before {
			t.Errorf("%d projects, want %d: nothing written", n, before)
		}
	})
	t.Run("Stale", func(t *testing.T) {
		seq := a.assertSequenceIsEventCount(id)
		p := a.changeCall(a.key, "createProject", createProjectMutation, map[string]any{"organizationId": id, "name": "Late", "expectedSequence": seq - 1})
		if got := codesOf(p); fmt.Sprint(got) != "map[input.expectedSequence:STALE_OBJECT]" {
			t.Errorf("userErrors = %v", got)
		}
		a.createProjectOK(map[string]any{"organizationId": id, "name": "On time", "expectedSequence": seq})
	})
}

func TestCreateDefaultProject(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createOK(map[string]any{"name": "Default Moves"})
	id := o["id"].(string)
	oldID := o["defaultProject"].(map[string]any)["id"]
	p := a.createProjectOK(map[string]any{"organizationId": id, "name": "New home", "isDefault": true})
	if p["isDefault"] != true || a.defaults(id) != 1 {
		t.Errorf("project = %v, %d defaults", p, a.defaults(id))
	}
	r := a.post(a.key, `query($id: ID!) { organization(id: $id) { defaultProject { id } projects { id isDefault } } }`, map[string]any{"id": id})
	if got := r.Data["organization"].(map[string]any)["defaultProject"].(map[string]any)["id"]; got != p["id"] {
		t.Errorf("defaultProject = %v, want %v", got, p["id"])
	}
	_, events := a.orgEventLog(id)
	// One mutation, one event: the created project's, with the demotion of the old default among its changes.
	if len(events) != 2 || events[1].Type != "project.created" || events[1].Data["projectId"] != p["id"] ||
		events[1].Changes != fmt.Sprintf("projects.%s.isDefault:true->false", oldID) {
		t.Errorf("events = %+v", events)
	}
	a.assertSequenceIsEventCount(id)
}

func TestUpdateProject(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createOK(map[string]any{"name": "Updates Ltd", "projects": []map[string]any{
		{"name": "Web", "contactEmails": []string{"web@u.test"}, "sendFromEmail": map[string]any{"email": "no@u.test"}}, {"name": "Other"}}})
	id := o["id"].(string)
	defaultID := o["defaultProject"].(map[string]any)["id"].(string)
	var webID, otherID string
	for _, p := range o["projects"].([]any) {
		pid := p.(map[string]any)["id"].(string)
		if pid == defaultID {
			continue
		}
		if webID == "" {
			webID = pid
		} else {
			otherID = pid
		}
	}
	update := func(input map[string]any) map[string]any {
		t.Helper()
		return a.changeCall(a.key, "updateProject", updateProjectMutation, input)
	}

	t.Run("Partial", func(t *testing.T) {
		p := update(map[string]any{"id": webID, "clientMutationId": "u-1", "mode": "TEST"})
		got := p["project"].(map[string]any)
		if len(userErrors(p)) != 0 || p["clientMutationId"] != "u-1" || got["mode"] != "TEST" || got["name"] != "Web" ||
			got["slug"] != "web" || got["type"] != "WEBSITE" || fmt.Sprint(got["contactEmails"]) != "[web@u.test]" ||
			fmt.Sprint(got["sendFromEmail"]) != "map[email:no@u.test name:<nil>]" {
			t.Errorf("updateProject = %v", p)
		}
		_, events := a.orgEventLog(id)
		last := events[len(events)-1]
		if last.Type != "project.updated" || last.Data["projectId"] != webID || last.Changes != "mode:LIVE->TEST" {
			t.Errorf("event = %+v", last)
		}
	})
	t.Run("RenameNullsAndSettings", func(t *testing.T) {
		p := update(map[string]any{"id": webID, "name": "Web Shop", "contactEmails": nil, "sendFromEmail": nil,
			"status": "INACTIVE", "settings": map[string]any{"trackers": map[string]any{"realTimeScan": true}}})
		got := p["project"].(map[string]any)
		if len(userErrors(p)) != 0 || got["name"] != "Web Shop" || got["slug"] != "web-shop" || got["status"] != "INACTIVE" ||
			fmt.Sprint(got["contactEmails"]) != "[]" || got["sendFromEmail"] != nil ||
			fmt.Sprint(got["settings"]) != "map[trackers:map[deepScan:false realTimeScan:true]]" {
			t.Errorf("updateProject = %v", p)
		}
		_, events := a.orgEventLog(id)
		want := "name:Web->Web Shop slug:web->web-shop status:ACTIVE->INACTIVE contactEmails:[web@u.test]->[] " +
			"sendFromEmail:map[email:no@u.test]-><nil> settings.trackers.realTimeScan:false->true"
		if last := events[len(events)-1]; last.Changes != want {
			t.Errorf("changes = %s\nwant %s", last.Changes, want)
		}
	})
	t.Run("NoChangeWritesNothing", func(t *testing.T) {
		seq := a.assertSequenceIsEventCount(id)
		p := update(map[string]any{"id": webID, "name": "Web Shop", "mode": "TEST", "isDefault": false})
		if len(userErrors(p)) != 0 || p["project"].(map[string]any)["name"] != "Web Shop" {
			t.Errorf("updateProject = %v", p)
		}
		if now := a.assertSequenceIsEventCount(id); now != seq {
			t.Errorf("sequence %d, want %d", now, seq)
		}
	})
	t.Run("Rules", func(t *testing.T) {
		seq := a.assertSequenceIsEventCount(id)
		for _, tc := range []struct {
			input map[string]any
			want  string
		}{
			{map[string]any{"id": webID, "name": nil, "type": nil}, "map[input.name:REQUIRED input.type:REQUIRED]"},
			{map[string]any{"id": webID, "name": "other"}, "map[input.name:TAKEN]"},
			{map[string]any{"id": webID, "name": "", "contactEmails": []string{"x"}}, "map[input.contactEmails.0:INVALID_FORMAT input.name:BLANK]"},
			{map[string]any{"id": webID, "sendFromEmail": map[string]any{"email": "x"}}, "map[input.sendFromEmail.email:INVALID_FORMAT]"},
			{map[string]any{"id": defaultID, "isDefault": false}, "map[input.isDefault:INVALID_STATE]"},
			{map[string]any{"id": webID, "expectedSequence": seq - 1, "name": "Fresh"}, "map[input.expectedSequence:STALE_OBJECT]"},
			{map[string]any{"id": "not-a-uuid"}, "map[input.id:NOT_FOUND]"},
			{map[string]any{"id": "00000000-0000-4000-8000-000000000000"}, "map[input.id:NOT_FOUND]"},
		} {
			p := update(tc.input)
			if got := codesOf(p); fmt.Sprint(got) != tc.want || p["project"] != nil {
				t.Errorf("%v: %v, want %s", tc.input, p, tc.want)
			}
		}
		if now := a.assertSequenceIsEventCount(id); now != seq {
			t.Errorf("sequence %d, want %d: nothing written", now, seq)
		}
	})
	t.Run("MoveDefault", func(t *testing.T) {
		p := update(map[string]any{"id": otherID, "isDefault": true})
		if len(userErrors(p)) != 0 || p["project"].(map[string]any)["isDefault"] != true || a.defaults(id) != 1 {
			t.Fatalf("updateProject = %v, %d defaults", p, a.defaults(id))
		}
		_, events := a.orgEventLog(id)
		n := len(events)
		if events[n-1].Data["projectId"] != otherID || events[n-1].Type != "project.updated" ||
			events[n-1].Changes != fmt.Sprintf("isDefault:false->true projects.%s.isDefault:true->false", defaultID) {
			t.Errorf("events = %+v, want one event for the move", events[n-1:])
		}
		// The previous default is an ordinary project now: it may be deleted, the new one may not.
		d := a.changeCall(a.key, "deleteProject", deleteProjectMutation, map[string]any{"id": otherID})
		if fmt.Sprint(codesOf(d)) != "map[input.id:INVALID_STATE]" || d["deletedProjectId"] != nil {
			t.Errorf("delete default = %v", d)
		}
		d = a.changeCall(a.key, "deleteProject", deleteProjectMutation, map[string]any{"id": defaultID, "clientMutationId": "d-1"})
		if len(userErrors(d)) != 0 || d["deletedProjectId"] != defaultID || d["clientMutationId"] != "d-1" {
			t.Errorf("deleteProject = %v", d)
		}
		if n := a.sqlInt(`SELECT count(*) FROM projects WHERE tenant_id = $1 AND id = $2`, a.actor.TenantID, defaultID); n != 0 {
			t.Errorf("deleted project still stored")
		}
		_, events = a.orgEventLog(id)
		if last := events[len(events)-1]; last.Type != "project.deleted" || last.Data["projectId"] != defaultID {
			t.Errorf("event = %+v", last)
		}
		d = a.changeCall(a.key, "deleteProject", deleteProjectMutation, map[string]any{"id": defaultID})
		if fmt.Sprint(codesOf(d)) != "map[input.id:NOT_FOUND]" {
			t.Errorf("delete again = %v", d)
		}
		a.assertSequenceIsEventCount(id)
	})
}

// Ten concurrent calls that each make another project the default leave exactly one default, and a
// log without gaps: the organization's lock serialises them.
func TestConcurrentDefaultProjects(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createOK(map[string]any{"name": "Race Track", "projects": manyProjects(10)})
	id := o["id"].(string)
	var ids []string
	for _, p := range o["projects"].([]any) {
		if p.(map[string]any)["isDefault"] != true {
			ids = append(ids, p.(map[string]any)["id"].(string))
		}
	}
	if len(ids) != 10 {
		t.Fatalf("%d projects", len(ids))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for _, pid := range ids {
		wg.Add(1)
		go func(pid string) {
			defer wg.Done()
			r := a.post(a.key, updateProjectMutation, map[string]any{"input": map[string]any{"id": pid, "isDefault": true}})
			if len(r.Errors) > 0 || len(userErrors(r.Data["updateProject"].(map[string]any))) > 0 {
				errs <- r.Raw
			}
		}(pid)
	}
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := a.post(a.key, createProjectMutation, map[string]any{"input": map[string]any{"organizationId": id,
				"name": fmt.Sprintf("Racer %d", i), "isDefault": true}})
			if len(r.Errors) > 0 || len(userErrors(r.Data["createProject"].(map[string]any))) > 0 {
				errs <- r.Raw
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := a.defaults(id); n != 1 {
		t.Errorf("%d default projects, want 1", n)
	}
	if n := a.sqlInt(`SELECT count(*) FROM projects WHERE tenant_id = $1 AND organization_id = $2`, a.actor.TenantID, id); n != 21 {
		t.Errorf("%d projects, want 21", n)
	}
	// 1 create, 10 updates and 10 creates: one event each, the demotion of the previous default among
	// the changes of the event of the mutation that moved the flag.
	if seq := a.assertSequenceIsEventCount(id); seq != 21 {
		t.Errorf("sequence %d, want 21", seq)
	}
	seq, events := a.orgEventLog(id)
	for i, e := range events {
		if e.Sequence != i+1 {
			t.Fatalf("event %d has sequence %d", i, e.Sequence)
		}
	}
	if seq != len(events) {
		t.Errorf("details.sequence %d, %d events", seq, len(events))
	}
}

func TestProjectAccess(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	o := a.createOK(map[string]any{"name": "Guarded", "projects": []map[string]any{{"name": "Extra"}}})
	id := o["id"].(string)
	var extraID string
	for _, p := range o["projects"].([]any) {
		if p.(map[string]any)["isDefault"] != true {
			extraID = p.(map[string]any)["id"].(string)
		}
	}
	events := a.count("audit_events")

	// Another tenant's ids are NOT_FOUND.
	b := newAPIInOtherTenant(t)
	for _, c := range []struct {
		field, query string
		input        map[string]any
		want         string
	}{
		{"createProject", createProjectMutation, map[string]any{"organizationId": id, "name": "Theft"}, "map[input.organizationId:NOT_FOUND]"},
		{"updateProject", updateProjectMutation, map[string]any{"id": extraID, "name": "Theft"}, "map[input.id:NOT_FOUND]"},
		{"deleteProject", deleteProjectMutation, map[string]any{"id": extraID}, "map[input.id:NOT_FOUND]"},
	} {
		if got := codesOf(b.changeCall(b.key, c.field, c.query, c.input)); fmt.Sprint(got) != c.want {
			t.Errorf("%s in another tenant: %v, want %s", c.field, got, c.want)
		}
	}
	// Without ORGANIZATION_UPDATE: FORBIDDEN, nothing written.
	reader, _ := a.newKey("reader", domain.PermOrganizationRead)
	for _, c := range []struct {
		query string
		input map[string]any
	}{
		{createProjectMutation, map[string]any{"organizationId": id, "name": "Nope"}},
		{updateProjectMutation, map[string]any{"id": extraID, "name": "Nope"}},
		{deleteProjectMutation, map[string]any{"id": extraID}},
	} {
		r := a.post(reader, c.query, map[string]any{"input": c.input})
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("without ORGANIZATION_UPDATE: %s", r.Raw)
		}
	}
	if n := a.count("audit_events"); n != events || a.count("projects") != 2 {
		t.Errorf("%d events (want %d), %d projects (want 2)", n, events, a.count("projects"))
	}
	// A deleted organization's projects are NOT_FOUND too.
	if _, err := a.store.DB().Exec(`UPDATE organizations SET status = 'REMOVED', removed_at = now() WHERE tenant_id = $1 AND id = $2`,
		a.actor.TenantID, id); err != nil {
		t.Fatal(err)
	}
	if got := codesOf(a.changeCall(a.key, "updateProject", updateProjectMutation, map[string]any{"id": extraID, "name": "Ghost"})); fmt.Sprint(got) != "map[input.id:NOT_FOUND]" {
		t.Errorf("project of a deleted organization: %v", got)
	}
	if got := codesOf(a.changeCall(a.key, "createProject", createProjectMutation, map[string]any{"organizationId": id, "name": "Ghost"})); fmt.Sprint(got) != "map[input.organizationId:NOT_FOUND]" {
		t.Errorf("deleted organization: %v", got)
	}
}
