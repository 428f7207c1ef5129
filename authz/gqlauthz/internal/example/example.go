// Package example is a tiny gqlgen server guarded by gqlauthz, for the
// package's runnable example: boards that belong to projects.
package example

//go:generate go tool gqlgen generate

import (
	"context"
	"strconv"
)

// Board belongs to a project; implementing gqlauthz.InProject lets its
// fields be guarded without naming a project argument.
type Board struct {
	ID        string  `json:"id"`
	Title     string  `json:"title"`
	Secret    *string `json:"secret"`
	ProjectID int64   `json:"-"`
}

// InProject implements gqlauthz.InProject.
func (b *Board) InProject() int64 { return b.ProjectID }

// Resolver serves the boards in Data.
type Resolver struct {
	Data []*Board
}

// Query returns the query resolver.
func (r *Resolver) Query() QueryResolver { return queryResolver{r} }

type queryResolver struct{ *Resolver }

func (q queryResolver) Board(ctx context.Context, id string) (*Board, error) {
	for _, b := range q.Data {
		if b.ID == id {
			return b, nil
		}
	}
	return nil, nil
}

func (q queryResolver) Boards(ctx context.Context, project string) ([]*Board, error) {
	var out []*Board
	for _, b := range q.Data {
		if strconv.FormatInt(b.ProjectID, 10) == project {
			out = append(out, b)
		}
	}
	return out, nil
}
