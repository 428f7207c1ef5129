package authn_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantql/grantql/authn"
)

// TestLoadConfig: the issuers' file gets its defaults, and a file that
// allows a symmetric or no algorithm, misses a required setting, or names
// a setting that does not exist stops the start.
func TestLoadConfig(t *testing.T) {
	for _, c := range []struct {
		name, file, invalid string
	}{
		{"defaults", `{"issuers": [{"issuer": "https://id.example", "audience": "grantql"}]}`, ""},
		{"HS256", `{"issuers": [{"issuer": "https://id.example", "audience": "a", "algorithms": ["HS256"]}]}`, `"HS256" is not allowed`},
		{"none", `{"issuers": [{"issuer": "https://id.example", "audience": "a", "algorithms": ["none"]}]}`, `"none" is not allowed`},
		{"no audience", `{"issuers": [{"issuer": "https://id.example"}]}`, "audience is required"},
		{"no issuer", `{"issuers": [{"audience": "a"}]}`, "issuer is required"},
		{"bad skew", `{"issuers": [{"issuer": "https://id.example", "audience": "a", "clock_skew": "soon"}]}`, "clock_skew"},
		{"unknown setting", `{"issuers": [{"issuer": "https://id.example", "audience": "a", "superuser_claim": "admin"}]}`, "superuser_claim"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "oidc.json")
			if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := authn.LoadConfig(path)
			if c.invalid != "" {
				if err == nil || !strings.Contains(err.Error(), c.invalid) {
					t.Errorf("LoadConfig(%s) = %v, want an error about %s", c.file, err, c.invalid)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig(%s) = %v", c.file, err)
			}
			iss := got.Issuers[0]
			if !slices.Equal(iss.Algorithms, authn.DefaultAlgorithms) || iss.ClockSkew != "1m0s" || iss.UserClaim != "sub" || iss.CreateUsers {
				t.Errorf("LoadConfig(%s) = %+v, want RS256/ES256, 60s skew, sub, no just-in-time users", c.file, iss)
			}
		})
	}
}

// TestDiscovery: an issuer without a JWKS URL finds it by discovery, and
// refuses a discovery document that names another issuer.
func TestDiscovery(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL + "/good", "jwks_uri": srv.URL + "/jwks"})
		case "/evil/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://elsewhere.example", "jwks_uri": srv.URL + "/jwks"})
		case "/jwks":
			w.Write([]byte(`{"keys": []}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := authn.NewIssuer(ctx, authn.IssuerConfig{Issuer: srv.URL + "/good", Audience: "a"}, srv.Client(), 0); err != nil {
		t.Errorf("NewIssuer(good) = %v", err)
	}
	if _, err := authn.NewIssuer(ctx, authn.IssuerConfig{Issuer: srv.URL + "/evil", Audience: "a"}, srv.Client(), 0); err == nil || !strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("NewIssuer(discovery naming another issuer) = %v, want an error naming it", err)
	}
	if _, err := authn.NewIssuer(ctx, authn.IssuerConfig{Issuer: srv.URL + "/missing", Audience: "a"}, srv.Client(), 0); err == nil {
		t.Error("NewIssuer(no discovery document) = nil, want an error")
	}
}

// usageStore records the flushes of a TokenUsage.
type usageStore struct {
	mu      sync.Mutex
	flushes []map[int64]time.Time
}

func (s *usageStore) TouchTokens(ctx context.Context, used map[int64]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes = append(s.flushes, used)
	return nil
}

// TestTokenUsageFlushesAtShutdown: uses noted since the last flush are
// written, once, when Run's context ends, keeping each token's latest use.
func TestTokenUsageFlushesAtShutdown(t *testing.T) {
	store := &usageStore{}
	u := authn.NewTokenUsage(store, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.Run(ctx, time.Hour, time.Second)
	}()
	first, later := time.Now(), time.Now().Add(time.Second)
	u.Used(1, later)
	u.Used(1, first)
	u.Used(2, first)
	cancel()
	<-done
	store.mu.Lock()
	defer store.mu.Unlock()
	want := []map[int64]time.Time{{1: later, 2: first}}
	if len(store.flushes) != 1 || !maps.Equal(store.flushes[0], want[0]) {
		t.Errorf("flushes at shutdown = %v, want %v", store.flushes, want)
	}
}
