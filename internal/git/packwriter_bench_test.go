package git

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/stretchr/testify/require"
)

// packObjects are the objects the first commit of 1000 clusters x 10
// bindings writes into an empty repository (what writePack receives).
func packObjects(tb testing.TB) []pendingObject {
	tb.Helper()
	tree := renderTree(tb, scaleInput(tb, benchClusters, benchBindings))
	root, err := newBuilder().build(tree, "")
	require.NoError(tb, err)
	w := &objectWriter{r: benchRepo(tb), present: map[plumbing.Hash]bool{}}
	w.collect(root)
	return w.pending
}

func packDirBytes(tb testing.TB, dir string) (pack, idx int64) {
	tb.Helper()
	for _, ext := range []string{".pack", ".idx"} {
		m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
		require.NoError(tb, err)
		require.Len(tb, m, 1, "one %s file in %s", ext, dir)
		st, err := os.Stat(m[0])
		require.NoError(tb, err)
		if ext == ".pack" {
			pack = st.Size()
		} else {
			idx = st.Size()
		}
	}
	return pack, idx
}

// BenchmarkPackWriter writes the same objects as one pack and its index,
// once with bindsync's writer (writePackFiles) and once with go-git's
// (packfile.Encoder, no deltas, into the filesystem storage's pack writer,
// which indexes the pack with idxfile.Writer and idxfile.Encoder). go-git's
// encoder reads objects from a storer: go-git times the writers alone,
// go-git+fill adds filling that storer, which using it would cost too.
// docs/git.md records the figures and the decision they support.
func BenchmarkPackWriter(b *testing.B) {
	objs := packObjects(b)
	b.Logf("%d objects", len(objs))

	b.Run("bindsync", func(b *testing.B) {
		var dir string
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir = filepath.Join(b.TempDir(), "pack")
			b.StartTimer()
			if err := writePackFiles(dir, objs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		pack, idx := packDirBytes(b, dir)
		b.ReportMetric(float64(pack), "pack-bytes")
		b.ReportMetric(float64(idx), "idx-bytes")
	})

	for _, fill := range []bool{false, true} {
		name := "go-git"
		if fill {
			name = "go-git+fill"
		}
		b.Run(name, func(b *testing.B) {
			var dir string
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir = b.TempDir()
				if fill {
					b.StartTimer()
				}
				src, hashes := memoryStore(b, objs)
				b.StartTimer()
				dst := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
				pw, err := dst.PackfileWriter()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := packfile.NewEncoder(pw, src, false).Encode(hashes, 0); err != nil {
					b.Fatal(err)
				}
				if err := pw.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			pack, idx := packDirBytes(b, filepath.Join(dir, "objects", "pack"))
			b.ReportMetric(float64(pack), "pack-bytes")
			b.ReportMetric(float64(idx), "idx-bytes")
		})
	}
}

// memoryStore is a go-git object store holding objs, which go-git's pack
// encoder reads from.
func memoryStore(tb testing.TB, objs []pendingObject) (*memory.Storage, []plumbing.Hash) {
	src := memory.NewStorage()
	hashes := make([]plumbing.Hash, len(objs))
	for j, o := range objs {
		mo := &plumbing.MemoryObject{}
		mo.SetType(o.typ)
		mo.SetSize(int64(len(o.content)))
		if _, err := mo.Write(o.content); err != nil {
			tb.Fatal(err)
		}
		h, err := src.SetEncodedObject(mo)
		if err != nil {
			tb.Fatal(err)
		}
		hashes[j] = h
	}
	return src, hashes
}
