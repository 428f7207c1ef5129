// Package models holds grantql's gorm models and every query it runs. It
// opens PostgreSQL or the embedded SQLite database, applies the embedded
// migrations, and implements authz.Store.
package models
