package graph_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// TestRefusedRequestsSayWhy: a request the endpoint does not read gets a
// status that says why and an error with BAD_USER_INPUT, whichever layer
// refuses it; a mutation sent over GET is not run.
func TestRefusedRequestsSayWhy(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		const viewer = `{"query":"{ viewer { id } }"}`
		for _, c := range []struct {
			name, method, contentType, body, rawQuery string
			status                                    int
			message                                   string
		}{
			{"PUT", http.MethodPut, "application/json", viewer, "", http.StatusMethodNotAllowed, "GET and POST"},
			{"DELETE", http.MethodDelete, "", "", "", http.StatusMethodNotAllowed, "GET and POST"},
			{"text/plain", http.MethodPost, "text/plain", viewer, "", http.StatusUnsupportedMediaType, "application/json"},
			{"no content type", http.MethodPost, "", viewer, "", http.StatusUnsupportedMediaType, "application/json"},
			{"a bad media type", http.MethodPost, "application/json; charset", viewer, "", http.StatusUnsupportedMediaType, "application/json"},
			{"a mutation over GET", http.MethodGet, "", "", `query=mutation{createGroup(name:"g"){id}}`, http.StatusNotAcceptable, "GET requests only allow query operations"},
			{"undecodable variables", http.MethodGet, "", "", "query={viewer{id}}&variables={", http.StatusBadRequest, "variables"},
			{"a bad URL escape", http.MethodGet, "", "", "query=%zz", http.StatusBadRequest, "escape"},
			{"a string for a JSON object", http.MethodPost, "application/json",
				`{"query":"query($i: CheckInput!) { check(input: $i) { allowed } }","variables":{"i":{"perm":"projects.view_page","object":{"type":"T","id":"1","attributes":"x"}}}}`,
				"", http.StatusOK, "a JSON value must be an object, not a string"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := httptest.NewRequest(c.method, "/graphql", strings.NewReader(c.body))
				r.URL.RawQuery = c.rawQuery
				if c.contentType != "" {
					r.Header.Set("Content-Type", c.contentType)
				}
				r.Header.Set("Authorization", "Bearer "+h.root.Token)
				rec := httptest.NewRecorder()
				h.mux.ServeHTTP(rec, r)
				var res struct {
					Errors []struct {
						Message    string         `json:"message"`
						Extensions map[string]any `json:"extensions"`
					} `json:"errors"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Errors) != 1 {
					t.Fatalf("%s = %d %s, want one error (%v)", c.name, rec.Code, rec.Body, err)
				}
				e := res.Errors[0]
				if rec.Code != c.status || e.Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(e.Message, c.message) {
					t.Errorf("%s = %d %s, want %d, BAD_USER_INPUT and a message with %q", c.name, rec.Code, rec.Body, c.status, c.message)
				}
				if c.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, POST, OPTIONS" {
					t.Errorf("%s: Allow = %q, want \"GET, POST, OPTIONS\"", c.name, rec.Header().Get("Allow"))
				}
			})
		}
		if h.groupNamed(t, "g") {
			t.Error("the mutation sent over GET created its group")
		}
	})
}

// TestBatchedBodyRefusedPlainly: a POST body that is not one GraphQL
// request object (a batch, malformed JSON, a member of the wrong kind) is
// refused with 400 and BAD_USER_INPUT, saying what is wrong in the
// client's terms, without naming Go types and without echoing the body.
func TestBatchedBodyRefusedPlainly(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		h := newHarness(t, db)
		const marker = "marker-7f3a" // in every body, never in an answer
		for _, c := range []struct {
			name, body, message string
		}{
			{"a batch", `[{"query":"{ viewer { id } }","operationName":"` + marker + `"},{"query":"{ viewer { id } }"}]`, "batched requests (a JSON array) are not supported"},
			{"malformed JSON", `{"query":"{ viewer { id } }", "operationName": "` + marker + `"`, "not valid JSON (at byte"},
			{"trailing garbage", `{"query":"{ viewer { id } }"} ` + marker, "not valid JSON"},
			{"a string", `"` + marker + `"`, "must be one JSON object such as"},
			{"a number query", `{"query": 12, "operationName": "` + marker + `"}`, `"query" must be a string, not a number`},
			{"string variables", `{"query":"{ viewer { id } }", "variables": "` + marker + `"}`, `"variables" must be a JSON object, not a string`},
			{"empty", ``, "the request body is empty"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(c.body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+h.root.Token)
				rec := httptest.NewRecorder()
				h.mux.ServeHTTP(rec, r)
				var res struct {
					Errors []gqlError `json:"errors"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Errors) != 1 {
					t.Fatalf("POST %s = %d %s, want one error (%v)", c.name, rec.Code, rec.Body, err)
				}
				e := res.Errors[0]
				if rec.Code != http.StatusBadRequest || e.code() != "BAD_USER_INPUT" || !strings.Contains(e.Message, c.message) {
					t.Errorf("POST %s = %d %s, want 400, BAD_USER_INPUT and a message with %q", c.name, rec.Code, rec.Body, c.message)
				}
				for _, leak := range []string{marker, "RawParams", "Go value", "graphql."} {
					if strings.Contains(rec.Body.String(), leak) {
						t.Errorf("POST %s = %s, want no %q in the answer", c.name, rec.Body, leak)
					}
				}
			})
		}
		// A well-formed request still goes through.
		res := sendBody(t, h.mux, h.root.Token, []byte(`{"query":"{ viewer { username } }","variables":null}`), -1)
		wantData(t, "viewer", res, `{"viewer": {"username": "root"}}`)
	})
}
