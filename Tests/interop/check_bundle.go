// check_bundle.go: checks the checkpoint signature and the Merkle tree of a MeterProof export
// bundle with golang.org/x/mod/sumdb/note and tlog (not SHA256SUMS, the CSV, the counts or the
// tokens: check_bundle.py and the other steps of VERIFY.md do those).
//
//	go run check_bundle.go BUNDLE_DIR [VKEY]
//
// VKEY (the vkey text or a file holding it) is the log key you obtained out of band; without it
// the bundle's own log-key.vkey is used, which proves nothing about who signed.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// stored holds tlog's stored hashes (tlog.StoredHashes per record), what tlog.TreeHash reads.
type stored []tlog.Hash

func (s stored) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = s[x]
	}
	return out, nil
}

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Printf("FAILED: "+format+"\n", args...)
		os.Exit(1)
	}
}

func main() {
	check(len(os.Args) == 2 || len(os.Args) == 3, "usage: go run check_bundle.go BUNDLE_DIR [VKEY]")
	dir := os.Args[1]
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		check(err == nil, "%v", err)
		return b
	}
	vkey := string(read("log-key.vkey"))
	if len(os.Args) > 2 {
		vkey = os.Args[2]
		if b, err := os.ReadFile(vkey); err == nil {
			vkey = string(b)
		}
	}
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	check(err == nil, "log key: %v", err)
	cp := read("checkpoint")
	n, err := note.Open(cp, note.VerifierList(v))
	check(err == nil, "checkpoint: %v", err)
	text := strings.Split(n.Text, "\n") // origin, size, root, extension lines…, ""
	check(len(text) >= 4 && text[0] == v.Name(), "checkpoint: not a checkpoint of %s", v.Name())
	size, err := strconv.ParseInt(text[1], 10, 64)
	check(err == nil, "checkpoint size: %v", err)
	root, err := tlog.ParseHash(text[2])
	check(err == nil, "checkpoint root: %v", err)

	var manifest struct {
		Selection struct {
			FullPrefix bool `json:"fullPrefix"`
		} `json:"selection"`
	}
	check(json.Unmarshal(read("manifest.json"), &manifest) == nil, "manifest.json does not parse")
	lines := bytes.SplitAfter(read("entries.jsonl"), []byte("\n"))
	check(len(lines[len(lines)-1]) == 0, "entries.jsonl does not end in a line feed")
	lines = lines[:len(lines)-1]
	if manifest.Selection.FullPrefix {
		// tlog.TreeHash reads tlog's stored-hash layout, not a list of leaf hashes.
		var hashes stored
		for i, line := range lines {
			h, err := tlog.StoredHashes(int64(i), bytes.TrimSuffix(line, []byte("\n")), hashes)
			check(err == nil, "%v", err)
			hashes = append(hashes, h...)
		}
		// RFC 6962's empty root is SHA-256 of nothing; tlog.TreeHash(0, …) returns all zeros.
		got := tlog.Hash(sha256.Sum256(nil))
		if len(lines) > 0 {
			got, err = tlog.TreeHash(int64(len(lines)), hashes)
			check(err == nil, "%v", err)
		}
		check(int64(len(lines)) == size && got == root, "entries.jsonl does not hash to the checkpoint's root")
	} else {
		for _, line := range lines {
			var e struct {
				Seq int64 `json:"seq"`
			}
			check(json.Unmarshal(line, &e) == nil, "entry does not parse: %s", line)
			proof := string(read(fmt.Sprintf("proofs/%d.tlog-proof", e.Seq)))
			parts := strings.SplitN(proof, "\n\n", 2)
			check(len(parts) == 2 && parts[1] == string(cp), "proof %d: not against this checkpoint", e.Seq)
			head := strings.Split(parts[0], "\n")
			check(len(head) >= 2 && head[0] == "c2sp.org/tlog-proof@v1" && head[1] == fmt.Sprintf("index %d", e.Seq), "proof %d: bad header", e.Seq)
			var p tlog.RecordProof
			for _, s := range head[2:] {
				h, err := tlog.ParseHash(s)
				check(err == nil, "proof %d: %v", e.Seq, err)
				p = append(p, h)
			}
			err := tlog.CheckRecord(p, size, root, e.Seq, tlog.RecordHash(bytes.TrimSuffix(line, []byte("\n"))))
			check(err == nil, "entry %d: %v", e.Seq, err)
		}
	}
	fmt.Printf("OK: %d entries of %s, checkpoint size %d, signature and tree verified\n", len(lines), text[0], size)
}
