package images

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// batchChunks is how many chunks travel together through a compression
// worker. Handing chunks over one by one cost a thread wake-up per 32 KiB
// (about a second of CPU per GiB on the bench VM); a batch may hold chunks
// of several resources, so small files do not stall the pipeline either.
const batchChunks = 8

// chunkBatch is a run of chunks, in WIM order, on its way through a
// compression worker.
type chunkBatch struct {
	in    []byte // chunk k at in[k*ChunkSize:], size[k] bytes
	out   []byte // its compressed form at out[k*ChunkSize:], n[k] bytes
	size  [batchChunks]int
	n     [batchChunks]int // compressed size, 0 when stored raw
	res   [batchChunks]*pendingRes
	count int
	// bad[k] is set when the worker decompressed chunk k's compressed
	// form and did not get the input back (checked when verifying).
	bad  [batchChunks]error
	done chan struct{}
}

// newChunkCompressor is newCompressor; a test swaps in a faulty one.
var newChunkCompressor = newCompressor

// compressPool is a bounded set of workers, each with its own compressor.
// The writer submits batches in order and collects them in the same order,
// so blob layout and chunk tables stay deterministic.
type compressPool struct {
	jobs  chan *chunkBatch
	free  chan *chunkBatch
	depth int // batches in flight at most
	wg    sync.WaitGroup
	once  sync.Once
}

// newCompressPool starts threads workers. With check, each worker
// decompresses every chunk it compressed and compares the result with the
// input, so that a compressor fault never reaches the file unnoticed.
func newCompressPool(c Compression, level, threads int, check bool) (*compressPool, error) {
	comps := make([]chunkCompressor, threads)
	decs := make([]chunkDecompressor, threads)
	for i := range comps {
		cc, err := newChunkCompressor(c, level)
		if err != nil {
			return nil, err
		}
		comps[i] = cc
		if check {
			if decs[i], err = newDecompressor(c); err != nil {
				return nil, err
			}
		}
	}
	depth := 2*threads + 1
	p := &compressPool{jobs: make(chan *chunkBatch, depth), free: make(chan *chunkBatch, depth+1), depth: depth}
	for i := 0; i < depth+1; i++ {
		p.free <- &chunkBatch{in: make([]byte, batchChunks*ChunkSize), out: make([]byte, batchChunks*ChunkSize), done: make(chan struct{}, 1)}
	}
	for i, cc := range comps {
		p.wg.Add(1)
		go func(cc chunkCompressor, dec chunkDecompressor) {
			defer p.wg.Done()
			var scratch []byte
			if dec != nil {
				scratch = make([]byte, ChunkSize)
			}
			for b := range p.jobs {
				for k := range b.count {
					lo, size := k*ChunkSize, b.size[k]
					in, out := b.in[lo:lo+size], b.out[lo:lo+size]
					n := cc.Compress(out, in)
					if n >= size {
						n = 0
					}
					b.n[k] = n
					b.bad[k] = nil
					if dec != nil && n > 0 {
						b.bad[k] = checkChunk(dec, scratch[:size], out[:n], in)
					}
				}
				b.done <- struct{}{}
			}
		}(cc, decs[i])
	}
	return p, nil
}

func (p *compressPool) get() *chunkBatch { return <-p.free }

func (p *compressPool) put(b *chunkBatch) {
	b.count = 0
	b.res = [batchChunks]*pendingRes{}
	p.free <- b
}

func (p *compressPool) submit(b *chunkBatch) { p.jobs <- b }

func (p *compressPool) close() {
	p.once.Do(func() {
		close(p.jobs)
		p.wg.Wait()
	})
}

// checkChunk decompresses comp into scratch (the size of want) and reports
// whether it gives want back.
func checkChunk(dec chunkDecompressor, scratch, comp, want []byte) error {
	if err := dec.Decompress(scratch, comp); err != nil {
		return fmt.Errorf("its compressed form does not decompress: %w", err)
	}
	if !bytes.Equal(scratch, want) {
		return errors.New("its compressed form decompresses to other data")
	}
	return nil
}
