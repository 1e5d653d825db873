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
// compression worker (and, when checking, a verifier).
type chunkBatch struct {
	in    []byte // chunk k at in[k*ChunkSize:], size[k] bytes
	out   []byte // its compressed form at out[k*ChunkSize:], n[k] bytes
	size  [batchChunks]int
	n     [batchChunks]int // compressed size, 0 when stored raw
	res   [batchChunks]*pendingRes
	count int
	// bad[k] is set when a verifier decompressed chunk k's compressed
	// form and did not get the input back (checked when verifying).
	bad  [batchChunks]error
	done chan struct{}
}

// newChunkCompressor is newCompressor; a test swaps in a faulty one.
var newChunkCompressor = newCompressor

// compressPool is a bounded set of workers, each with its own compressor,
// followed, when checking, by a stage of verifiers that decompress what
// the workers produced. The writer submits batches in order and collects
// them in the same order, so blob layout and chunk tables stay
// deterministic; a batch is done once compressed and (when checking)
// verified.
//
// The check is a stage of its own rather than a step inside each
// compression worker so that it overlaps compression: with one
// compression thread the decoding would otherwise add to the wall time
// while another core idles. Decoding costs a fraction of compressing
// (about a sixth for XPRESS, less for LZX), so one verifier keeps up
// with several compressors.
type compressPool struct {
	jobs   chan *chunkBatch
	verify chan *chunkBatch // compressed batches waiting for a verifier; nil without check
	free   chan *chunkBatch
	depth  int // batches in flight at most
	wg     sync.WaitGroup
	vwg    sync.WaitGroup
	once   sync.Once
}

// compressorsPerVerifier is how many compression workers share one
// verifier.
const compressorsPerVerifier = 4

// verifiers is how many verifier goroutines run beside threads
// compression workers when checking.
func verifiers(threads int) int {
	return (threads + compressorsPerVerifier - 1) / compressorsPerVerifier
}

// newCompressPool starts threads compression workers. With check, it also
// starts verifiers(threads) goroutines that decompress every chunk the
// workers compressed and compare the result with the input, so that a
// compressor fault never reaches the file unnoticed.
func newCompressPool(c Compression, level, threads int, check bool) (*compressPool, error) {
	comps := make([]chunkCompressor, threads)
	for i := range comps {
		cc, err := newChunkCompressor(c, level)
		if err != nil {
			return nil, err
		}
		comps[i] = cc
	}
	var decs []chunkDecompressor
	if check {
		decs = make([]chunkDecompressor, verifiers(threads))
		for i := range decs {
			d, err := newDecompressor(c)
			if err != nil {
				return nil, err
			}
			decs[i] = d
		}
	}
	// Each compression worker and verifier has a batch at work, and one
	// more waits in the queue: filling a batch (reading and hashing it)
	// takes a fraction of the time compressing it does, so a deeper queue
	// only costs memory (half a MiB a batch).
	depth := threads + len(decs) + 1
	p := &compressPool{jobs: make(chan *chunkBatch, depth), free: make(chan *chunkBatch, depth+1), depth: depth}
	for i := 0; i < depth+1; i++ {
		p.free <- &chunkBatch{in: make([]byte, batchChunks*ChunkSize), out: make([]byte, batchChunks*ChunkSize), done: make(chan struct{}, 1)}
	}
	if check {
		p.verify = make(chan *chunkBatch, depth)
		for _, dec := range decs {
			p.vwg.Add(1)
			go p.verifier(dec)
		}
	}
	for _, cc := range comps {
		p.wg.Add(1)
		go p.compressor(cc)
	}
	return p, nil
}

// compressor compresses the chunks of each batch and hands the batch on
// to the verifiers, or marks it done.
func (p *compressPool) compressor(cc chunkCompressor) {
	defer p.wg.Done()
	for b := range p.jobs {
		for k := range b.count {
			lo, size := k*ChunkSize, b.size[k]
			n := cc.Compress(b.out[lo:lo+size], b.in[lo:lo+size])
			if n >= size {
				n = 0
			}
			b.n[k] = n
			b.bad[k] = nil
		}
		if p.verify != nil {
			p.verify <- b
		} else {
			b.done <- struct{}{}
		}
	}
}

// verifier decompresses every compressed chunk of each batch, compares it
// with the chunk's input, records a mismatch in bad and marks the batch
// done.
func (p *compressPool) verifier(dec chunkDecompressor) {
	defer p.vwg.Done()
	scratch := make([]byte, ChunkSize)
	for b := range p.verify {
		for k := range b.count {
			if n := b.n[k]; n > 0 {
				lo, size := k*ChunkSize, b.size[k]
				b.bad[k] = checkChunk(dec, scratch[:size], b.out[lo:lo+n], b.in[lo:lo+size])
			}
		}
		b.done <- struct{}{}
	}
}

func (p *compressPool) get() *chunkBatch { return <-p.free }

func (p *compressPool) put(b *chunkBatch) {
	b.count = 0
	b.res = [batchChunks]*pendingRes{}
	p.free <- b
}

func (p *compressPool) submit(b *chunkBatch) { p.jobs <- b }

// close stops the workers and verifiers once they have finished what
// they were given, and lets go of the free batches' memory.
func (p *compressPool) close() {
	p.once.Do(func() {
		close(p.jobs)
		p.wg.Wait()
		if p.verify != nil {
			close(p.verify)
			p.vwg.Wait()
		}
		for {
			select {
			case <-p.free:
				continue
			default:
			}
			break
		}
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
