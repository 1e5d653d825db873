package images

import "sync"

// chunkJob is one chunk on its way through the compression workers.
type chunkJob struct {
	in   []byte
	out  []byte
	size int // bytes of in used
	n    int // compressed size, 0 when stored raw
	done chan struct{}
}

// compressPool is a bounded set of workers, each with its own compressor.
// The writer submits chunks in order and collects them in the same order,
// so blob layout and chunk tables stay deterministic.
type compressPool struct {
	jobs  chan *chunkJob
	free  chan *chunkJob
	depth int
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
	depth := 4 * threads
	p := &compressPool{jobs: make(chan *chunkJob, depth), free: make(chan *chunkJob, depth+1), depth: depth}
	for i := 0; i < depth+1; i++ {
		p.free <- &chunkJob{in: make([]byte, ChunkSize), out: make([]byte, ChunkSize), done: make(chan struct{}, 1)}
	}
	for _, cc := range comps {
		p.wg.Add(1)
		go func(cc chunkCompressor) {
			defer p.wg.Done()
			for j := range p.jobs {
				n := cc.Compress(j.out[:j.size], j.in[:j.size])
				if n >= j.size {
					n = 0
				}
				j.n = n
				j.done <- struct{}{}
			}
		}(cc)
	}
	return p, nil
}

func (p *compressPool) get() *chunkJob { return <-p.free }

func (p *compressPool) put(j *chunkJob) { p.free <- j }

func (p *compressPool) submit(j *chunkJob) { p.jobs <- j }

func (p *compressPool) close() {
	p.once.Do(func() {
		close(p.jobs)
		p.wg.Wait()
	})
}
