// check_bundle.go: checks the checkpoint signature and the Merkle tree of a MeterProof export
// bundle with golang.org/x/mod/sumdb/note and tlog (not SHA256SUMS, the CSV, the counts or the
// tokens: check_bundle.py and the other steps of VERIFY.md do those).
//
//	go run check_bundle.go BUNDLE_DIR [VKEY]
//
// VKEY (the vkey text or a file holding it) is the log key you obtained out of band; without it
// the bundle's own log-key.vkey is used, which proves nothing about who signed.
//
// entries.jsonl is read one line at a time and the tree is kept as its O(log n) frontier, so
// memory stays flat whatever the bundle's size.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const maxEntryBytes = 1 << 20 // what MeterProof stores at most per entry

// frontier holds the tlog stored hashes of the complete subtrees that make up the tree so far:
// all that tlog.StoredHashes needs for the next record and tlog.TreeHash for the root.
type frontier map[int64]tlog.Hash

func (f frontier) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := f[x]
		if !ok {
			return nil, fmt.Errorf("internal error: stored hash %d not kept", x)
		}
		out[i] = h
	}
	return out, nil
}

// keepOnly drops every hash but those of the complete subtrees of a tree of size n.
func (f frontier) keepOnly(n int64) {
	keep := map[int64]bool{}
	var start int64
	for level := 62; level >= 0; level-- {
		if n&(1<<uint(level)) != 0 {
			keep[tlog.StoredHashIndex(level, start>>uint(level))] = true
			start += 1 << uint(level)
		}
	}
	for x := range f {
		if !keep[x] {
			delete(f, x)
		}
	}
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
	// read returns a small file of the bundle whole, refusing one larger than limit bytes.
	read := func(name string, limit int64) []byte {
		f, err := os.Open(filepath.Join(dir, name))
		check(err == nil, "%v", err)
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, limit+1))
		check(err == nil, "%v", err)
		check(int64(len(b)) <= limit, "%s is larger than %d bytes", name, limit)
		return b
	}
	vkey := string(read("log-key.vkey", 4096))
	if len(os.Args) > 2 {
		vkey = os.Args[2]
		if b, err := os.ReadFile(vkey); err == nil {
			vkey = string(b)
		}
	}
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	check(err == nil, "log key: %v", err)
	cp := read("checkpoint", 1<<20)
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
	check(json.Unmarshal(read("manifest.json", 1<<20), &manifest) == nil, "manifest.json does not parse")

	file, err := os.Open(filepath.Join(dir, "entries.jsonl"))
	check(err == nil, "%v", err)
	defer file.Close()
	entries := bufio.NewReaderSize(file, 1<<16)
	tree := frontier{}
	var count int64
	var long []byte
	for ; ; count++ {
		line, err := entries.ReadSlice('\n')
		if err == bufio.ErrBufferFull { // a line longer than the buffer: gather it, up to the limit
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull && len(long) <= maxEntryBytes {
				line, err = entries.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF && len(line) == 0 {
			break
		}
		check(err != io.EOF, "entries.jsonl does not end in a line feed")
		check(err == nil || err == bufio.ErrBufferFull, "entries.jsonl: %v", err)
		check(len(line) <= maxEntryBytes+1, "entries.jsonl: line %d is longer than %d bytes", count+1, maxEntryBytes)
		record := bytes.TrimSuffix(line, []byte("\n"))
		if manifest.Selection.FullPrefix {
			hashes, err := tlog.StoredHashes(count, record, tree)
			check(err == nil, "%v", err)
			base := tlog.StoredHashIndex(0, count)
			for i, h := range hashes {
				tree[base+int64(i)] = h
			}
			tree.keepOnly(count + 1)
			continue
		}
		var e struct {
			Seq int64 `json:"seq"`
		}
		check(json.Unmarshal(record, &e) == nil, "entry does not parse: %.200s", record)
		proof := string(read(fmt.Sprintf("proofs/%d.tlog-proof", e.Seq), (1<<20)+8192))
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
		err = tlog.CheckRecord(p, size, root, e.Seq, tlog.RecordHash(record))
		check(err == nil, "entry %d: %v", e.Seq, err)
	}
	if manifest.Selection.FullPrefix {
		// RFC 6962's empty root is SHA-256 of nothing; tlog.TreeHash(0, …) returns all zeros.
		got := tlog.Hash(sha256.Sum256(nil))
		if count > 0 {
			got, err = tlog.TreeHash(count, tree)
			check(err == nil, "%v", err)
		}
		check(count == size && got == root, "entries.jsonl does not hash to the checkpoint's root")
	}
	fmt.Printf("OK: %d entries of %s, checkpoint size %d, signature and tree verified\n", count, text[0], size)
}
