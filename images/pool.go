package images

import "sync"

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
	done  chan struct{}
}

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

func newCompressPool(c Compression, level, threads int) (*compressPool, error) {
	comps := make([]chunkCompressor, threads)
	for i := range comps {
		cc, err := newCompressor(c, level)
		if err != nil {
			return nil, err
		}
		comps[i] = cc
	}
	depth := 2*threads + 1
	p := &compressPool{jobs: make(chan *chunkBatch, depth), free: make(chan *chunkBatch, depth+1), depth: depth}
	for i := 0; i < depth+1; i++ {
		p.free <- &chunkBatch{in: make([]byte, batchChunks*ChunkSize), out: make([]byte, batchChunks*ChunkSize), done: make(chan struct{}, 1)}
	}
	for _, cc := range comps {
		p.wg.Add(1)
		go func(cc chunkCompressor) {
			defer p.wg.Done()
			for b := range p.jobs {
				for k := range b.count {
					lo, size := k*ChunkSize, b.size[k]
					n := cc.Compress(b.out[lo:lo+size], b.in[lo:lo+size])
					if n >= size {
						n = 0
					}
					b.n[k] = n
				}
				b.done <- struct{}{}
			}
		}(cc)
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
