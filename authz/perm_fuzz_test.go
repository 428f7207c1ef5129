package authz_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grantql/grantql/authz"
)

// permGrammar is docs/model.md's shape of a permission name, written as a
// regular expression so that it checks ParsePerm's hand-written scanner
// independently: two parts joined by one dot, each lower-case ASCII
// letters, digits and '_', starting with a letter, and at most 100 bytes
// long (the app_label and codename columns are VARCHAR(100)).
var permGrammar = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}\.[a-z][a-z0-9_]{0,99}$`)

// permSeeds are names on both sides of every rule of the grammar: the
// seeded permissions, each kind of bad character at the start, in the
// middle and at the end of either part, the length limit, and strings that
// only look right (Unicode letters and digits, look-alikes, invalid
// UTF-8, NUL).
var permSeeds = []string{
	"projects.view_page", "auth.add_user", "authz.view_decisionlog", "a.b", "a1.b2", "a_.b_", "a__.b__",
	"", ".", "a", "a.", ".b", "a..b", "a.b.", ".a.b", "a.b.c", "projects.view_page.view_page",
	"A.b", "a.B", "Projects.view_page", "projects.View_page", "1a.b", "a.1b", "_a.b", "a._b",
	"a-b.c", "a.b-c", "a b.c", "a.b c", " a.b", "a.b ", "a.b\n", "a.b\t", "a\x00.b", "a.b\x00",
	"projects:view_page", "projects/view_page", "projects.view_pagé", "projéts.view_page",
	"ｐrojects.view_page", "projects.view_pag\u0435", "\u212a.k", "\u0130.i", "a.\u0661",
	"\xff.b", "a.\xfe", "a.b\xff", "\xc3.b",
	strings.Repeat("a", 100) + ".b", strings.Repeat("a", 101) + ".b",
	"a." + strings.Repeat("b", 100), "a." + strings.Repeat("b", 101),
	strings.Repeat("a", 100) + "." + strings.Repeat("b", 100),
	strings.Repeat("a.", 1000),
}

// FuzzParsePerm holds ParsePerm to the grammar: it never panics, it
// accepts exactly the names permGrammar matches, an accepted name splits
// at its dot into two parts that join back into the name, and a refused
// one is a *PermissionError wrapping ErrMalformedPermission that names it.
func FuzzParsePerm(f *testing.F) {
	for _, s := range permSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		appLabel, codename, err := authz.ParsePerm(name)
		want := permGrammar.MatchString(name)
		if (err == nil) != want {
			t.Fatalf("ParsePerm(%q) = %q, %q, %v, want accepted = %v", name, appLabel, codename, err, want)
		}
		if err != nil {
			if !errors.Is(err, authz.ErrMalformedPermission) || errors.Is(err, authz.ErrUnknownPermission) {
				t.Fatalf("ParsePerm(%q) = %v, want an ErrMalformedPermission", name, err)
			}
			var pe *authz.PermissionError
			if !errors.As(err, &pe) || pe.Name != name {
				t.Fatalf("ParsePerm(%q) = %#v, want a *PermissionError naming %q", name, err, name)
			}
			if appLabel != "" || codename != "" {
				t.Fatalf("ParsePerm(%q) = %q, %q, %v, want empty parts with the error", name, appLabel, codename, err)
			}
			return
		}
		if got := appLabel + "." + codename; got != name {
			t.Fatalf("ParsePerm(%q) = %q, %q; joined %q, want %q", name, appLabel, codename, got, name)
		}
		if key := (authz.Permission{AppLabel: appLabel, Codename: codename}).Key(); key != name {
			t.Fatalf("Permission{%q, %q}.Key() = %q, want %q", appLabel, codename, key, name)
		}
		if strings.Contains(appLabel, ".") || strings.Contains(codename, ".") {
			t.Fatalf("ParsePerm(%q) = %q, %q, want parts without a dot", name, appLabel, codename)
		}
	})
}

// registryStore is a GrantStore whose registry is a fixed list and which
// counts how often it is read. Only Permissions is implemented: the
// registry calls nothing else.
type registryStore struct {
	authz.GrantStore
	perms []authz.Permission
	reads atomic.Int64
}

func (s *registryStore) Permissions(ctx context.Context) ([]authz.Permission, error) {
	s.reads.Add(1)
	return s.perms, nil
}

// FuzzRegistryLookup holds Registry.Lookup to the distinction docs/model.md
// makes between a malformed name and an unknown one: a name outside the
// grammar is ErrMalformedPermission and never reaches the store (so that a
// stream of garbage costs no queries); a well-formed name not in the
// registry is ErrUnknownPermission; a registered one is returned as it is
// registered.
func FuzzRegistryLookup(f *testing.F) {
	for _, s := range permSeeds {
		f.Add(s)
	}
	store := &registryStore{perms: []authz.Permission{
		{ID: 1, AppLabel: "projects", Codename: "view_page", Name: "Can view page"},
		{ID: 2, AppLabel: "auth", Codename: "add_user", Name: "Can add user"},
		{ID: 3, AppLabel: "a", Codename: "b", Name: "Shortest"},
		{ID: 4, AppLabel: strings.Repeat("a", 100), Codename: "b", Name: "Longest app label"},
	}}
	known := map[string]authz.Permission{}
	for _, p := range store.perms {
		known[p.Key()] = p
	}
	ctx := context.Background()
	reg := authz.NewRegistry(store)
	if err := reg.Refresh(ctx); err != nil {
		f.Fatalf("Refresh() = %v", err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		before := store.reads.Load()
		p, err := reg.Lookup(ctx, name)
		var pe *authz.PermissionError
		switch want, ok := known[name]; {
		case !permGrammar.MatchString(name):
			if !errors.Is(err, authz.ErrMalformedPermission) || errors.Is(err, authz.ErrUnknownPermission) ||
				!errors.As(err, &pe) || pe.Name != name {
				t.Fatalf("Lookup(%q) = %+v, %v, want a malformed-permission error naming it", name, p, err)
			}
			if reads := store.reads.Load() - before; reads != 0 {
				t.Fatalf("Lookup(%q) read the registry %d times, want 0 for a malformed name", name, reads)
			}
		case !ok:
			if !errors.Is(err, authz.ErrUnknownPermission) || errors.Is(err, authz.ErrMalformedPermission) ||
				!errors.As(err, &pe) || pe.Name != name {
				t.Fatalf("Lookup(%q) = %+v, %v, want an unknown-permission error naming it", name, p, err)
			}
		default:
			if err != nil || p != want {
				t.Fatalf("Lookup(%q) = %+v, %v, want %+v", name, p, err, want)
			}
		}
	})
}
