package secrets_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/secrets"
	"github.com/ossa-platform/platform/sqlite"
)

func key(t *testing.T) []byte {
	t.Helper()
	k, err := secrets.ParseKey(secrets.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t *testing.T, current []byte, previous ...[]byte) *secrets.Keyring {
	t.Helper()
	k, err := secrets.NewKeyring(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func store(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

const value = "sk-live-4f9a-very-secret"

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xfb}, 32)
	for _, s := range []string{
		"+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=", // standard
		"+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s",  // unpadded
		"-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s=", // URL alphabet
		" -_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s\n",
	} {
		got, err := secrets.ParseKey(s)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for s, want := range map[string]string{
		"":                      "must be 32 bytes in base64",
		"c2hvcnQ=":              "not 5 bytes",
		"not base64 at all":     "must be 32 bytes in base64",
		strings.Repeat("A", 64): "not 48 bytes",
	} {
		_, err := secrets.ParseKey(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKey(%q): %v, want %q", s, err, want)
		}
		if err != nil && s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("ParseKey's error quotes the key: %v", err)
		}
	}
	if a, b := secrets.NewKey(), secrets.NewKey(); a == b {
		t.Error("NewKey made the same key twice")
	}
}

func TestKeyringSealOpen(t *testing.T) {
	t.Parallel()
	k1, k2 := key(t), key(t)
	ring := keyring(t, k1)
	id, sealed, err := ring.Seal("team-a", "token", value)
	if err != nil {
		t.Fatal(err)
	}
	if id != secrets.KeyID(k1) || id != ring.CurrentID() || len(id) != 16 {
		t.Fatalf("key ID %q, want %q", id, secrets.KeyID(k1))
	}
	if bytes.Contains(sealed, []byte(value)) || bytes.Contains(sealed, k1) {
		t.Fatal("the sealed value holds the value or the key in the clear")
	}
	_, again, _ := ring.Seal("team-a", "token", value)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	got, err := ring.Open("team-a", "token", id, sealed)
	if err != nil || got != value {
		t.Fatalf("Open = %q, %v", got, err)
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct {
		ring          *secrets.Keyring
		ns, name, kid string
		sealed        []byte
		code, msg     string
	}{
		"wrong key":       {keyring(t, k2), "team-a", "token", id, sealed, platform.EUNAVAILABLE, "encrypted under key " + id + ", which this gateway does not have"},
		"relabelled key":  {keyring(t, k2, k1), "team-a", "token", secrets.KeyID(k2), sealed, platform.EINTERNAL, "does not decrypt under key " + secrets.KeyID(k2)},
		"other namespace": {ring, "team-b", "token", id, sealed, platform.EINTERNAL, "altered, or copied from another secret"},
		"other name":      {ring, "team-a", "other", id, sealed, platform.EINTERNAL, "altered, or copied from another secret"},
		"altered":         {ring, "team-a", "token", id, tampered, platform.EINTERNAL, "altered"},
		"truncated":       {ring, "team-a", "token", id, sealed[:10], platform.EINTERNAL, "not a sealed value"},
		"other format":    {ring, "team-a", "token", id, append([]byte{9}, sealed[1:]...), platform.EINTERNAL, "not a sealed value"},
	} {
		got, err := tc.ring.Open(tc.ns, tc.name, tc.kid, tc.sealed)
		if got != "" || platform.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %q, %v; want %s with %q", name, got, err, tc.code, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), value) {
			t.Errorf("%s: the error quotes the value", name)
		}
	}

	// A previous key opens what it sealed; the current one seals.
	rotated := keyring(t, k2, k1, k2, k1)
	if ids := rotated.IDs(); len(ids) != 2 || ids[0] != secrets.KeyID(k2) || ids[1] != id {
		t.Fatalf("IDs = %q, want the current key then the previous one, each once", ids)
	}
	if got, err := rotated.Open("team-a", "token", id, sealed); err != nil || got != value {
		t.Fatalf("a previous key: %q, %v", got, err)
	}
	if newID, _, _ := rotated.Seal("team-a", "token", value); newID != secrets.KeyID(k2) {
		t.Fatalf("sealed under %s, want the current key", newID)
	}
	if _, err := secrets.NewKeyring(k1[:16]); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func TestLoadKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret-key")
	k, created, err := secrets.LoadKeyFile(path)
	if err != nil || !created || len(k) != secrets.KeySize {
		t.Fatalf("first load: %d bytes, created %v, %v", len(k), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	again, created, err := secrets.LoadKeyFile(path)
	if err != nil || created || !bytes.Equal(again, k) {
		t.Fatalf("second load: created %v, same key %v, %v", created, bytes.Equal(again, k), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the key file alone", len(entries))
	}
	// Processes starting at once agree on one key.
	dir := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() { keys[i], _, _ = secrets.LoadKeyFile(filepath.Join(dir, "secret-key")) })
	}
	wg.Wait()
	for _, k := range keys {
		if len(k) != secrets.KeySize || !bytes.Equal(k, keys[0]) {
			t.Fatalf("concurrent loads disagree: %x", keys)
		}
	}
	bad := filepath.Join(t.TempDir(), "secret-key")
	if err := os.WriteFile(bad, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secrets.LoadKeyFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a bad key file: %v", err)
	}
}

// The store holds only ciphertexts: the value is nowhere in the database
// file, and Reveal gives it back.
func TestVaultEncryptsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	v := secrets.NewVault(db, keyring(t, key(t)))
	s, created, err := v.Set(ctx, "team-a", "token", value)
	if err != nil || !created || s.KeyID != v.Keys().CurrentID() || s.Name != "token" || s.Namespace != "team-a" {
		t.Fatalf("Set: %+v, %v, %v", s, created, err)
	}
	if _, created, err := v.Set(ctx, "team-a", "token", value+"-2"); err != nil || created {
		t.Fatalf("Set again: created %v, %v", created, err)
	}
	got, err := v.Reveal(ctx, "team-a", "token")
	if err != nil || got != value+"-2" {
		t.Fatalf("Reveal = %q, %v", got, err)
	}
	if _, err := v.Reveal(ctx, "team-b", "token"); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Fatalf("another namespace's: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(value)) || bytes.Contains(b, []byte("very-secret")) {
			t.Errorf("%s holds the value in the clear", f)
		}
	}
	bv := secrets.NewVault(store(t), keyring(t, key(t)))
	for _, bad := range []struct{ name, value, field string }{
		{"Bad_Name", "value", "name"}, {"token", "", "/value"}, {"token", "two\r\nlines", "/value"}, {"token", " padded", "/value"},
		{"token", strings.Repeat("x", platform.MaxSecretValueLen+1), "/value"},
	} {
		_, _, err := bv.Set(ctx, "team-a", bad.name, bad.value)
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), bad.field+":") ||
			(bad.value != "" && len(bad.value) < 100 && strings.Contains(err.Error(), bad.value)) {
			t.Errorf("Set(%q, %q): %v, want EINVALID at %s that does not quote the value", bad.name, bad.value, err, bad.field)
		}
	}
}

// A revealed value is cached for CacheTTL; a change through the same vault
// applies at once, another replica's after the TTL.
func TestVaultCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := store(t)
	ring := keyring(t, key(t))
	v, other := secrets.NewVault(db, ring), secrets.NewVault(db, ring)
	v.CacheTTL = 300 * time.Millisecond
	if _, _, err := v.Set(ctx, "default", "token", "one"); err != nil {
		t.Fatal(err)
	}
	reveal := func() string {
		t.Helper()
		got, err := v.Reveal(ctx, "default", "token")
		if err != nil {
			return "error: " + platform.ErrorCode(err)
		}
		return got
	}
	if got := reveal(); got != "one" {
		t.Fatalf("first reveal %q", got)
	}
	if _, _, err := v.Set(ctx, "default", "token", "two"); err != nil {
		t.Fatal(err)
	}
	if got := reveal(); got != "two" {
		t.Fatalf("after Set through the vault: %q, want two", got)
	}
	if _, _, err := other.Set(ctx, "default", "token", "three"); err != nil {
		t.Fatal(err)
	}
	if got := reveal(); got != "two" {
		t.Fatalf("another replica's change at once: %q, want the cached two", got)
	}
	time.Sleep(350 * time.Millisecond)
	if got := reveal(); got != "three" {
		t.Fatalf("after the TTL: %q, want three", got)
	}
	if err := v.Delete(ctx, "default", "token"); err != nil {
		t.Fatal(err)
	}
	if got := reveal(); got != "error: "+platform.ENOTFOUND {
		t.Fatalf("after Delete: %q", got)
	}
}

// Rotation: a vault under a new key with the old one as previous reads
// every secret, Rotate re-encrypts them all under the new key, and then
// the old key is no longer needed; a secret under a key the vault lacks is
// reported and left as it is.
func TestVaultRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := store(t)
	oldKey, newKey, lostKey := key(t), key(t), key(t)
	old := secrets.NewVault(db, keyring(t, oldKey))
	want := map[string]string{}
	for i, ns := range []string{"team-a", "team-b", "team-c"} {
		for j := range 60 {
			name := "s" + string(rune('a'+i)) + "-" + strings.Repeat("x", j%3) + string(rune('a'+j%26)) + string(rune('a'+j/26))
			val := "value-" + ns + "-" + name
			if _, _, err := old.Set(ctx, ns, name, val); err != nil {
				t.Fatal(err)
			}
			want[ns+"/"+name] = val
		}
	}
	lost := secrets.NewVault(db, keyring(t, lostKey))
	if _, _, err := lost.Set(ctx, "team-a", "orphan", "under a lost key"); err != nil {
		t.Fatal(err)
	}

	rotated := secrets.NewVault(db, keyring(t, newKey, oldKey))
	rotated.CacheTTL = -1
	for k, val := range want {
		ns, name, _ := strings.Cut(k, "/")
		if got, err := rotated.Reveal(ctx, ns, name); err != nil || got != val {
			t.Fatalf("before rotating, %s = %q, %v", k, got, err)
		}
	}
	if prev, unknown, err := rotated.Stale(ctx); err != nil || prev != len(want) || unknown != 1 {
		t.Fatalf("Stale = %d, %d, %v; want %d, 1", prev, unknown, err, len(want))
	}
	rep, err := rotated.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.KeyID != secrets.KeyID(newKey) || rep.Resealed != len(want) || len(rep.Failed) != 1 ||
		!strings.Contains(rep.Failed["team-a/orphan"], "encrypted under key "+secrets.KeyID(lostKey)) {
		t.Fatalf("report: %+v", rep)
	}
	if prev, unknown, err := rotated.Stale(ctx); err != nil || prev != 0 || unknown != 1 {
		t.Fatalf("Stale after rotating = %d, %d, %v", prev, unknown, err)
	}
	// Again: nothing left to do but the orphan.
	if rep, err := rotated.Rotate(ctx); err != nil || rep.Resealed != 0 || len(rep.Failed) != 1 {
		t.Fatalf("second rotation: %+v, %v", rep, err)
	}

	// The new key alone reads everything, the old one alone nothing.
	newOnly, oldOnly := secrets.NewVault(db, keyring(t, newKey)), secrets.NewVault(db, keyring(t, oldKey))
	for k, val := range want {
		ns, name, _ := strings.Cut(k, "/")
		if got, err := newOnly.Reveal(ctx, ns, name); err != nil || got != val {
			t.Fatalf("after rotating, %s = %q, %v", k, got, err)
		}
		if _, err := oldOnly.Reveal(ctx, ns, name); platform.ErrorCode(err) != platform.EUNAVAILABLE {
			t.Fatalf("the old key alone, %s: %v, want EUNAVAILABLE", k, err)
		}
		meta, err := newOnly.Lookup(ctx, ns, name)
		if err != nil || meta.KeyID != secrets.KeyID(newKey) {
			t.Fatalf("%s: %+v, %v", k, meta, err)
		}
	}
	if got, err := lost.Reveal(ctx, "team-a", "orphan"); err != nil || got != "under a lost key" {
		t.Fatalf("the orphan was changed: %q, %v", got, err)
	}
}
