package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// gqlResponse is a GraphQL response as a client sees it.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func newServer(t *testing.T, db *models.DB) *httptest.Server {
	t.Helper()
	store := models.NewStore(db)
	mux, err := graph.NewMux(context.Background(), authz.NewEngine(store), store, db)
	if err != nil {
		t.Fatalf("NewMux() = %v", err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, token, query string) (int, gqlResponse) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, err := http.NewRequest(http.MethodPost, url+"/graphql", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return res.StatusCode, out
}

func TestViewerOverHTTP(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		store := models.NewStore(db)
		admin, token, err := store.CreateSuperuser(ctx, "root")
		if err != nil {
			t.Fatal(err)
		}
		srv := newServer(t, db)
		const query = `{ viewer { id username isActive isSuperuser groups { name } } }`

		t.Run("token gives its user", func(t *testing.T) {
			status, res := post(t, srv.URL, "Bearer "+token, query)
			want := `{"viewer":{"id":"` + graphID(admin.ID) + `","username":"root","isActive":true,"isSuperuser":true,"groups":[]}}`
			if status != http.StatusOK || string(res.Data) != want || len(res.Errors) != 0 {
				t.Errorf("viewer = %d %s %v, want 200 %s", status, res.Data, res.Errors, want)
			}
		})
		t.Run("no token gives a null viewer", func(t *testing.T) {
			status, res := post(t, srv.URL, "", query)
			if status != http.StatusOK || string(res.Data) != `{"viewer":null}` || len(res.Errors) != 0 {
				t.Errorf("viewer = %d %s %v, want 200 {\"viewer\":null}", status, res.Data, res.Errors)
			}
		})
		for name, header := range map[string]string{
			"unknown token":      "Bearer gq_unknown",
			"not a bearer token": "Basic " + token,
			"empty bearer":       "Bearer ",
		} {
			t.Run(name, func(t *testing.T) {
				status, res := post(t, srv.URL, header, query)
				if status != http.StatusUnauthorized || len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
					t.Errorf("viewer with %q = %d %+v, want 401 UNAUTHENTICATED", header, status, res.Errors)
				}
			})
		}
		t.Run("revoked token", func(t *testing.T) {
			tok, secret, err := store.CreateToken(ctx, admin.ID, "to revoke", nil)
			if err != nil {
				t.Fatal(err)
			}
			if status, _ := post(t, srv.URL, "Bearer "+secret, query); status != http.StatusOK {
				t.Fatalf("viewer with a fresh token = %d, want 200", status)
			}
			if ok, err := store.RevokeToken(ctx, tok.ID); !ok || err != nil {
				t.Fatalf("RevokeToken(%d) = %v, %v, want true, nil", tok.ID, ok, err)
			}
			status, res := post(t, srv.URL, "Bearer "+secret, query)
			if status != http.StatusUnauthorized || len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
				t.Errorf("viewer with a revoked token = %d %+v, want 401 UNAUTHENTICATED", status, res.Errors)
			}
		})
		t.Run("inactive user's token", func(t *testing.T) {
			u, err := store.CreateUser(ctx, authz.User{Username: "gone", IsActive: false})
			if err != nil {
				t.Fatal(err)
			}
			_, secret, err := store.CreateToken(ctx, u.ID, "inactive", nil)
			if err != nil {
				t.Fatal(err)
			}
			status, res := post(t, srv.URL, "Bearer "+secret, query)
			if status != http.StatusUnauthorized || len(res.Errors) != 1 || res.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
				t.Errorf("viewer with an inactive user's token = %d %+v, want 401 UNAUTHENTICATED", status, res.Errors)
			}
		})
		t.Run("permissions", func(t *testing.T) {
			_, res := post(t, srv.URL, "", `{ permissions { key appLabel codename name } }`)
			var data struct {
				Permissions []struct{ Key, AppLabel, Codename, Name string }
			}
			if err := json.Unmarshal(res.Data, &data); err != nil {
				t.Fatal(err)
			}
			if len(data.Permissions) != 20 {
				t.Fatalf("permissions = %d entries, want 20", len(data.Permissions))
			}
			p := data.Permissions[0]
			if p.Key != "auth.add_group" || p.AppLabel != "auth" || p.Codename != "add_group" || p.Name != "Can add group" {
				t.Errorf("permissions[0] = %+v, want auth.add_group", p)
			}
		})
		t.Run("GET transport", func(t *testing.T) {
			res, err := http.Get(srv.URL + "/graphql?query=" + "%7Bviewer%7Bid%7D%7D")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out gqlResponse
			json.NewDecoder(res.Body).Decode(&out)
			if res.StatusCode != http.StatusOK || string(out.Data) != `{"viewer":null}` {
				t.Errorf("GET viewer = %d %s, want 200 {\"viewer\":null}", res.StatusCode, out.Data)
			}
		})
		t.Run("GraphiQL page", func(t *testing.T) {
			res, err := http.Get(srv.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Errorf("GET / = %d %s, want 200 text/html", res.StatusCode, res.Header.Get("Content-Type"))
			}
		})
	})
}

func TestHealthAndReadiness(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		srv := newServer(t, db)
		for _, path := range []string{"/healthz", "/readyz"} {
			if got := getStatus(t, srv.URL+path); got != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", path, got)
			}
		}
		db.Close() // the database is gone
		if got := getStatus(t, srv.URL+"/readyz"); got != http.StatusServiceUnavailable {
			t.Errorf("GET /readyz without a database = %d, want 503", got)
		}
		if got := getStatus(t, srv.URL+"/healthz"); got != http.StatusOK {
			t.Errorf("GET /healthz without a database = %d, want 200", got)
		}
	})
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func graphID(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}
