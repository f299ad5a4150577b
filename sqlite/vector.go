package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/hnsw"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

// VectorIndex is the embedded platform.VectorIndex: the vectors kept in
// the database (table agent_vectors, migration 0012) and searched in an
// hnsw.Index in memory, built from them when the index is opened. Writes
// go to the database first, in one transaction, then to memory.
type VectorIndex struct {
	db    *DB
	model string
	mem   *hnsw.Index
	// mu makes writes reach memory in the order they committed.
	mu     sync.Mutex
	loaded time.Duration
}

var _ platform.VectorIndex = (*VectorIndex)(nil)

// loadBatch is how many stored vectors are read and linked at a time.
const loadBatch = 10_000

// OpenVectorIndex opens the database's vector index for vectors of model
// and dim dimensions, searched with opts (the zero value takes
// hnsw's defaults). It loads every stored vector into a new graph; when
// they came from another model or dimension it deletes them instead and
// records model and dim, so the index is empty (Count 0) and the
// discovery indexer embeds every agent again. A database has one vector
// index: opening one for another model empties the other's.
func (db *DB) OpenVectorIndex(ctx context.Context, model string, dim int, opts hnsw.Options) (*VectorIndex, error) {
	if model == "" || dim < 1 {
		return nil, platform.Errorf(platform.EINVALID, "a vector index needs a model and a dimension, not %q and %d", model, dim)
	}
	start := time.Now()
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		var have string
		var haveDim int
		err := tx.QueryRowContext(ctx, `SELECT model, dimension FROM agent_vector_model WHERE id = 1`).Scan(&have, &haveDim)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && have == model && haveDim == dim {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM agent_vectors`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO agent_vector_model (id, model, dimension) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET model = excluded.model, dimension = excluded.dimension`, model, dim)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: open the vector index: %w", translate(err))
	}
	x := &VectorIndex{db: db, model: model, mem: hnsw.New(dim, opts)}
	if err := x.load(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: load the vector index: %w", err)
	}
	x.loaded = time.Since(start)
	return x, nil
}

// load reads every stored vector into the graph, a batch at a time.
func (x *VectorIndex) load(ctx context.Context) error {
	after := ""
	for {
		docs, err := x.readBatch(ctx, after)
		if err != nil {
			return err
		}
		if len(docs) == 0 {
			return nil
		}
		if err := x.mem.Upsert(ctx, docs...); err != nil {
			return err
		}
		after = docs[len(docs)-1].ID
	}
}

func (x *VectorIndex) readBatch(ctx context.Context, after string) ([]platform.VectorDoc, error) {
	rows, err := x.db.db.QueryContext(ctx, `SELECT agent_id, namespace, vector, type, status, capabilities, labels
		FROM agent_vectors WHERE agent_id > ? ORDER BY agent_id LIMIT ?`, after, loadBatch)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	docs := make([]platform.VectorDoc, 0, loadBatch)
	for rows.Next() {
		var d platform.VectorDoc
		var blob []byte
		var caps, labels string
		if err := rows.Scan(&d.ID, &d.Namespace, &blob, &d.Type, &d.Status, &caps, &labels); err != nil {
			return nil, err
		}
		if len(blob) != 4*x.mem.Dimension() {
			return nil, fmt.Errorf("the vector of %s has %d bytes, not %d", d.ID, len(blob), 4*x.mem.Dimension())
		}
		d.Vector = decodeVector(blob)
		if err := json.Unmarshal([]byte(caps), &d.Capabilities); err != nil {
			return nil, fmt.Errorf("the capabilities of %s: %w", d.ID, err)
		}
		if err := json.Unmarshal([]byte(labels), &d.Labels); err != nil {
			return nil, fmt.Errorf("the labels of %s: %w", d.ID, err)
		}
		docs = append(docs, d)
	}
	return docs, translate(rows.Err())
}

// LoadTime is how long opening the index took: reading the vectors and
// building the graph.
func (x *VectorIndex) LoadTime() time.Duration { return x.loaded }

// Model names the model the index's vectors come from.
func (x *VectorIndex) Model() string { return x.model }

// Dimension is the length of the index's vectors.
func (x *VectorIndex) Dimension() int { return x.mem.Dimension() }

// Backend returns "embedded".
func (x *VectorIndex) Backend() string { return "embedded" }

// Count is how many documents the index holds.
func (x *VectorIndex) Count(ctx context.Context) (int, error) { return x.mem.Count(ctx) }

// Search returns the documents nearest q.Vector that match q's filters,
// from the graph in memory.
func (x *VectorIndex) Search(ctx context.Context, q platform.VectorQuery) ([]platform.VectorHit, error) {
	return x.mem.Search(ctx, q)
}

// Upsert stores docs in the database, replacing those with the same IDs,
// in one transaction, then in the graph.
func (x *VectorIndex) Upsert(ctx context.Context, docs ...platform.VectorDoc) error {
	if err := platform.CheckVectorDocs(x.mem.Dimension(), docs); err != nil {
		return err
	}
	if len(docs) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	err := x.db.withTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO agent_vectors (agent_id, namespace, vector, type, status, capabilities, labels)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET namespace = excluded.namespace,
			vector = excluded.vector, type = excluded.type, status = excluded.status,
			capabilities = excluded.capabilities, labels = excluded.labels`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, d := range docs {
			cj, lj := sqlstore.AttributesJSON(d.Capabilities, d.Labels)
			if _, err := stmt.ExecContext(ctx, d.ID, d.Namespace, encodeVector(d.Vector), string(d.Type), string(d.Status),
				cj, lj); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: store vectors: %w", translate(err))
	}
	return x.mem.Upsert(ctx, docs...)
}

// Delete removes the documents with these IDs from the database, in one
// transaction, then from the graph; unknown IDs are ignored.
func (x *VectorIndex) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	err := x.db.withTx(ctx, func(tx *sql.Tx) error {
		// SQLite binds at most 32766 parameters a statement.
		for i := 0; i < len(ids); i += 500 {
			chunk := ids[i:min(i+500, len(ids))]
			args := make([]any, len(chunk))
			for j, id := range chunk {
				args[j] = id
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM agent_vectors WHERE agent_id IN (`+
				strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete vectors: %w", translate(err))
	}
	return x.mem.Delete(ctx, ids...)
}

// encodeVector is v as little-endian float32s.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// decodeVector reads what encodeVector wrote.
func decodeVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
