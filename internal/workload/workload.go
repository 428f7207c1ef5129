// Package workload is the file `api seed --workload` writes and the load
// generator (cmd/loadgen) reads: who to be, what to ask, and what the
// answers must be.
package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Version is the version of the file's format; Read refuses a file of
// another version.
const Version = 1

// File is a workload. Everything in it but the token secrets is
// determined by the dataset and its seed.
type File struct {
	Version int     `json:"version"`
	Seed    uint64  `json:"seed"`
	Dataset Dataset `json:"dataset"`
	// Admin is the superuser the admin workloads (checks about other
	// users, grants, revokes) act as.
	Admin User `json:"admin"`
	// Viewers are ordinary active users with a token.
	Viewers []User `json:"viewers"`
	// Projects are the projects that have pages.
	Projects []Project `json:"projects"`
	// Views are (viewer, project) pairs where the viewer may view the
	// project, with every permission the viewer holds there.
	Views []View `json:"views"`
	// Checks are (user, permission, project) questions with their
	// answers, in blocks about one user.
	Checks []Check `json:"checks"`
	// Writes are (user, permission, project) keys reserved for grants and
	// revokes: denied when the workload is written, and about users that
	// no check, viewer or view names, so that writes never change the
	// answer of a read.
	Writes []Key `json:"writes"`
}

// Dataset counts what the seeded database holds.
type Dataset struct {
	Users       int `json:"users"`
	Groups      int `json:"groups"`
	Memberships int `json:"memberships"`
	Projects    int `json:"projects"`
	Grants      int `json:"grants"`
	Pages       int `json:"pages"`
}

// User is a user with an API token.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Token    string `json:"token"`
}

// Project is a project and its page count.
type Project struct {
	ID    int64 `json:"id"`
	Pages int   `json:"pages"`
}

// View is a (viewer, project) pair with what the viewer holds there.
type View struct {
	User        int64    `json:"user"`
	Project     int64    `json:"project"`
	Permissions []string `json:"permissions"`
	// Pages is the project's page count; ReadsPages says whether the
	// viewer may read them (projects.view_page), which the guarded-list
	// workload needs.
	Pages      int  `json:"pages"`
	ReadsPages bool `json:"readsPages"`
}

// Check is a question and its answer.
type Check struct {
	User    int64  `json:"user"`
	Perm    string `json:"perm"`
	Project int64  `json:"project"`
	Allowed bool   `json:"allowed"`
}

// Key is a (user, permission, project) key.
type Key struct {
	User    int64  `json:"user"`
	Perm    string `json:"perm"`
	Project int64  `json:"project"`
}

// Write writes w to path atomically: a reader sees the whole file or
// none.
func Write(path string, w *File) error {
	data, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".workload-*.json")
	if err != nil {
		return fmt.Errorf("write the workload: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(append(data, '\n'))
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("write the workload: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write the workload: %w", err)
	}
	return nil
}

// Read reads the workload at path, refusing one of another version or
// without an admin token.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the workload: %w", err)
	}
	var w File
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("read the workload %s: %w", path, err)
	}
	if w.Version != Version {
		return nil, fmt.Errorf("workload %s is of version %d; this load generator reads version %d (rebuild the server and the load generator together)",
			path, w.Version, Version)
	}
	if w.Admin.Token == "" {
		return nil, fmt.Errorf("workload %s has no admin token", path)
	}
	return &w, nil
}
