package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

var _ platform.SecretStore = (*DB)(nil)

// PutSecret stores a sealed secret, or replaces the value of the one of
// that name.
func (db *DB) PutSecret(ctx context.Context, s *platform.SealedSecret) (bool, error) {
	if err := sqlstore.CheckSealed(s); err != nil {
		return false, err
	}
	now := db.timestamp().UnixMicro()
	var created bool
	err := db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		createdAt, updatedAt := now, now
		var previous int64
		err := tx.QueryRowContext(ctx, `SELECT created_at, updated_at FROM secrets WHERE namespace = ? AND name = ?`,
			s.Namespace, s.Name).Scan(&createdAt, &previous)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			_, err = tx.ExecContext(ctx, `INSERT INTO secrets (namespace, name, key_id, ciphertext, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, s.Namespace, s.Name, s.KeyID, s.Ciphertext, createdAt, updatedAt)
		case err == nil:
			// updated_at moves forward, even within one microsecond.
			updatedAt = max(now, previous+1)
			_, err = tx.ExecContext(ctx, `UPDATE secrets SET key_id = ?, ciphertext = ?, updated_at = ?
				WHERE namespace = ? AND name = ?`, s.KeyID, s.Ciphertext, updatedAt, s.Namespace, s.Name)
		}
		if err != nil {
			return translate(err)
		}
		s.CreatedAt, s.UpdatedAt = time.UnixMicro(createdAt).UTC(), time.UnixMicro(updatedAt).UTC()
		rec.Audit(platform.NewAudit(ctx, platform.AuditSecretPut, s.Namespace,
			platform.AuditTarget{Kind: platform.AuditTargetSecret, Name: s.Name}))
		return nil
	})
	return created, err
}

// FindSecret returns one sealed secret.
func (db *DB) FindSecret(ctx context.Context, namespace, name string) (*platform.SealedSecret, error) {
	s := &platform.SealedSecret{Secret: platform.Secret{Namespace: namespace, Name: name}}
	var createdMicro, updatedMicro int64
	err := db.db.QueryRowContext(ctx, `SELECT key_id, ciphertext, created_at, updated_at FROM secrets
		WHERE namespace = ? AND name = ?`, namespace, name).Scan(&s.KeyID, &s.Ciphertext, &createdMicro, &updatedMicro)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sqlstore.SecretNotFound(namespace, name)
	}
	if err != nil {
		return nil, translate(err)
	}
	s.CreatedAt, s.UpdatedAt = time.UnixMicro(createdMicro).UTC(), time.UnixMicro(updatedMicro).UTC()
	return s, nil
}

// ListSecrets returns one page of secrets in namespace and name order.
func (db *DB) ListSecrets(ctx context.Context, f platform.SecretFilter) (platform.SecretPage, error) {
	limit := sqlstore.PageSize(f.Limit)
	where, args := []string{"TRUE"}, []any{}
	if f.Namespace != platform.AllNamespaces {
		where, args = []string{"namespace = ?"}, []any{f.Namespace}
	}
	if f.NotKeyID != "" {
		where, args = append(where, "key_id <> ?"), append(args, f.NotKeyID)
	}
	if f.AfterNamespace != "" || f.AfterName != "" {
		afterNS := f.AfterNamespace
		if afterNS == "" {
			afterNS = f.Namespace
		}
		where, args = append(where, "(namespace, name) > (?, ?)"), append(args, afterNS, f.AfterName)
	}
	rows, err := db.db.QueryContext(ctx, `SELECT namespace, name, key_id, created_at, updated_at FROM secrets
		WHERE `+strings.Join(where, " AND ")+` ORDER BY namespace, name LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return platform.SecretPage{}, translate(err)
	}
	defer rows.Close()
	var page platform.SecretPage
	for rows.Next() {
		s := new(platform.Secret)
		var createdMicro, updatedMicro int64
		if err := rows.Scan(&s.Namespace, &s.Name, &s.KeyID, &createdMicro, &updatedMicro); err != nil {
			return platform.SecretPage{}, err
		}
		s.CreatedAt, s.UpdatedAt = time.UnixMicro(createdMicro).UTC(), time.UnixMicro(updatedMicro).UTC()
		page.Items = append(page.Items, s)
	}
	if err := rows.Err(); err != nil {
		return platform.SecretPage{}, err
	}
	if len(page.Items) > limit {
		page.Items, page.More = page.Items[:limit], true
	}
	return page, nil
}

// DeleteSecret removes one secret.
func (db *DB) DeleteSecret(ctx context.Context, namespace, name string) error {
	return db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE namespace = ? AND name = ?`, namespace, name)
		if err != nil {
			return translate(err)
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			return sqlstore.SecretNotFound(namespace, name)
		}
		rec.Audit(platform.NewAudit(ctx, platform.AuditSecretDelete, namespace,
			platform.AuditTarget{Kind: platform.AuditTargetSecret, Name: name}))
		return err
	})
}

// ResealSecret replaces the sealed value of a secret still sealed as old.
func (db *DB) ResealSecret(ctx context.Context, namespace, name string, old []byte, keyID string, ciphertext []byte) (bool, error) {
	var done bool
	err := db.change(ctx, func(tx *sql.Tx, _ *sqlstore.Recorder) error {
		res, err := tx.ExecContext(ctx, `UPDATE secrets SET key_id = ?, ciphertext = ?
			WHERE namespace = ? AND name = ? AND ciphertext = ?`, keyID, ciphertext, namespace, name, old)
		if err != nil {
			return translate(err)
		}
		n, err := res.RowsAffected()
		done = n == 1
		return err
	})
	return done, err
}
