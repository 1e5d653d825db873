// Package testcorpus generates the files the codec tests compress and
// compare with wimlib: x86-64 machine code in a PE file, source text, prose,
// XML, logs and a registry hive, the kinds of data a Windows volume holds.
//
// Every byte comes from code in this repository and a fixed seed, so the
// corpus, and with it every size a test logs or bounds, is the same on every
// machine and with every Go toolchain (the tests used to read the go
// command's own binary and GOROOT's sources, which change with the
// toolchain).
package testcorpus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf16"

	"github.com/wdscapture/wdscapture/internal/regf"
)

// PE returns a PE32+ (x86-64) image of about size bytes: headers, a .text
// section of generated functions (prologues, register moves, stack and
// RIP-relative loads, E8 calls between the functions, indirect calls
// through an import table, branches, int3 padding), .rdata with ASCII and
// UTF-16 strings, and a .reloc section. It is not meant to run; its byte
// statistics are those of compiled code, which is what LZX's E8
// translation and the match finders are tuned for.
func PE(seed uint64, size int) []byte {
	g := &peGen{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
	return g.build(size)
}

type peGen struct {
	r *rand.Rand
}

const (
	peFileAlign = 0x200
	peSectAlign = 0x1000
	peImageBase = 0x140000000
)

func alignUp(n, a int) int { return (n + a - 1) / a * a }

func (g *peGen) build(size int) []byte {
	textSize := size * 7 / 10
	rdataSize := size * 2 / 10
	relocSize := max(size/20, 64)
	// Section RVAs are fixed up front so code can refer to data.
	textRVA := peSectAlign
	rdataRVA := textRVA + alignUp(textSize+4096, peSectAlign)
	relocRVA := rdataRVA + alignUp(rdataSize+4096, peSectAlign)

	rdata, strRVAs, iatRVAs := g.rdata(rdataRVA, rdataSize)
	text := g.text(textRVA, textSize, strRVAs, iatRVAs)
	reloc := g.reloc(textRVA, len(text), relocSize)

	var out bytes.Buffer
	out.Write(g.headers(len(text), len(rdata), len(reloc), textRVA, rdataRVA, relocRVA))
	for _, s := range [][]byte{text, rdata, reloc} {
		out.Write(s)
		out.Write(make([]byte, alignUp(out.Len(), peFileAlign)-out.Len()))
	}
	return out.Bytes()
}

// headers is the DOS stub, the COFF and PE32+ optional headers and three
// section headers, padded to the file alignment.
func (g *peGen) headers(textLen, rdataLen, relocLen, textRVA, rdataRVA, relocRVA int) []byte {
	h := make([]byte, 0, 0x400)
	dos := make([]byte, 0x80)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint16(dos[2:], 0x90)
	binary.LittleEndian.PutUint16(dos[4:], 3)
	binary.LittleEndian.PutUint16(dos[8:], 4)
	binary.LittleEndian.PutUint16(dos[0x10:], 0xFFFF)
	binary.LittleEndian.PutUint16(dos[0x18:], 0xB8)
	binary.LittleEndian.PutUint32(dos[0x3C:], 0x80)
	copy(dos[0x40:], []byte{0x0E, 0x1F, 0xBA, 0x0E, 0x00, 0xB4, 0x09, 0xCD, 0x21, 0xB8, 0x01, 0x4C, 0xCD, 0x21})
	copy(dos[0x4E:], "This program cannot be run in DOS mode.\r\r\n$")
	h = append(h, dos...)
	h = append(h, "PE\x00\x00"...)
	h = binary.LittleEndian.AppendUint16(h, 0x8664) // Machine
	h = binary.LittleEndian.AppendUint16(h, 3)      // sections
	h = binary.LittleEndian.AppendUint32(h, 0x5F3C2A10)
	h = binary.LittleEndian.AppendUint32(h, 0)
	h = binary.LittleEndian.AppendUint32(h, 0)
	h = binary.LittleEndian.AppendUint16(h, 240)    // optional header size
	h = binary.LittleEndian.AppendUint16(h, 0x2022) // executable, large address aware, DLL
	opt := make([]byte, 240)
	binary.LittleEndian.PutUint16(opt[0:], 0x20B)
	opt[2], opt[3] = 14, 29
	binary.LittleEndian.PutUint32(opt[4:], uint32(alignUp(textLen, peFileAlign)))
	binary.LittleEndian.PutUint32(opt[8:], uint32(alignUp(rdataLen, peFileAlign)))
	binary.LittleEndian.PutUint32(opt[16:], uint32(textRVA+0x40))
	binary.LittleEndian.PutUint32(opt[20:], uint32(textRVA))
	binary.LittleEndian.PutUint64(opt[24:], peImageBase)
	binary.LittleEndian.PutUint32(opt[32:], peSectAlign)
	binary.LittleEndian.PutUint32(opt[36:], peFileAlign)
	binary.LittleEndian.PutUint16(opt[40:], 10)
	binary.LittleEndian.PutUint16(opt[48:], 10)
	binary.LittleEndian.PutUint32(opt[56:], uint32(relocRVA+alignUp(relocLen, peSectAlign)))
	binary.LittleEndian.PutUint32(opt[60:], 0x400)
	binary.LittleEndian.PutUint16(opt[68:], 3)      // Windows CUI
	binary.LittleEndian.PutUint16(opt[70:], 0x4160) // NX, dynamic base, high entropy VA, CFG
	binary.LittleEndian.PutUint64(opt[72:], 0x100000)
	binary.LittleEndian.PutUint64(opt[80:], 0x1000)
	binary.LittleEndian.PutUint64(opt[88:], 0x100000)
	binary.LittleEndian.PutUint64(opt[96:], 0x1000)
	binary.LittleEndian.PutUint32(opt[108:], 16)
	// Data directory 5: base relocations.
	binary.LittleEndian.PutUint32(opt[112+5*8:], uint32(relocRVA))
	binary.LittleEndian.PutUint32(opt[112+5*8+4:], uint32(relocLen))
	h = append(h, opt...)
	raw := 0x400
	for _, s := range []struct {
		name       string
		rva, size  int
		characters uint32
	}{
		{".text", textRVA, textLen, 0x60000020},
		{".rdata", rdataRVA, rdataLen, 0x40000040},
		{".reloc", relocRVA, relocLen, 0x42000040},
	} {
		sh := make([]byte, 40)
		copy(sh, s.name)
		binary.LittleEndian.PutUint32(sh[8:], uint32(s.size))
		binary.LittleEndian.PutUint32(sh[12:], uint32(s.rva))
		binary.LittleEndian.PutUint32(sh[16:], uint32(alignUp(s.size, peFileAlign)))
		binary.LittleEndian.PutUint32(sh[20:], uint32(raw))
		binary.LittleEndian.PutUint32(sh[36:], s.characters)
		h = append(h, sh...)
		raw += alignUp(s.size, peFileAlign)
	}
	return append(h, make([]byte, 0x400-len(h))...)
}

// rdata returns the .rdata section (import address table, then strings)
// and the RVAs of its strings and IAT slots.
func (g *peGen) rdata(rva, size int) (sec []byte, strs, iat []int) {
	const imports = 180
	for i := range imports {
		iat = append(iat, rva+8*i)
		sec = binary.LittleEndian.AppendUint64(sec, uint64(rva+0x10000+i*24))
	}
	sec = binary.LittleEndian.AppendUint64(sec, 0)
	for len(sec) < size {
		strs = append(strs, rva+len(sec))
		s := g.phrase()
		if g.r.IntN(3) == 0 {
			for _, u := range utf16.Encode([]rune(s)) {
				sec = binary.LittleEndian.AppendUint16(sec, u)
			}
			sec = append(sec, 0, 0)
		} else {
			sec = append(sec, s...)
			sec = append(sec, 0)
		}
		for len(sec)%8 != 0 {
			sec = append(sec, 0)
		}
	}
	return sec[:size], strs, iat
}

func (g *peGen) phrase() string {
	switch g.r.IntN(4) {
	case 0:
		return fmt.Sprintf("%s%s%s", title(word(g.r)), title(word(g.r)), title(word(g.r)))
	case 1:
		return fmt.Sprintf("%s: %s %s failed (error 0x%08X)", title(word(g.r)), word(g.r), word(g.r), 0x80070000|g.r.IntN(0x100))
	case 2:
		return fmt.Sprintf(`\Registry\Machine\Software\Microsoft\%s\%s`, title(word(g.r)), title(word(g.r)))
	default:
		return sentence(g.r)
	}
}

// text generates functions until the section has size bytes.
func (g *peGen) text(rva, size int, strs, iat []int) []byte {
	// Function entry points are laid out first, at plausible spacing, so
	// calls can go forward as well as back.
	var entries []int
	for off := 0; off < size-64; off += 16 * (2 + g.r.IntN(40)) {
		entries = append(entries, off)
	}
	// Calls favour a few popular helpers, as real code does.
	popular := entries[:min(len(entries), 24)]
	var b []byte
	regs := []byte{0, 1, 2, 3, 6, 7} // rax rcx rdx rbx rsi rdi
	reg := func() byte { return regs[min(len(regs)-1, int(g.r.ExpFloat64()*1.5))] }
	for fi, start := range entries {
		if len(b) < start {
			b = append(b, bytes.Repeat([]byte{0xCC}, start-len(b))...)
		}
		end := size
		if fi+1 < len(entries) {
			end = entries[fi+1]
		}
		frame := byte(8 * (4 + g.r.IntN(12)))
		b = append(b, 0x48, 0x89, 0x5C, 0x24, 0x08) // mov [rsp+8], rbx
		b = append(b, 0x55, 0x48, 0x8B, 0xEC)       // push rbp; mov rbp, rsp
		b = append(b, 0x48, 0x83, 0xEC, frame)      // sub rsp, frame
		for len(b) < end-12 {
			ip := rva + len(b)
			switch k := g.r.IntN(100); {
			case k < 16: // call rel32
				var target int
				if g.r.IntN(3) > 0 {
					target = popular[g.r.IntN(len(popular))]
				} else {
					target = entries[g.r.IntN(len(entries))]
				}
				b = append(b, 0xE8)
				b = binary.LittleEndian.AppendUint32(b, uint32(int32(rva+target-(ip+5))))
			case k < 22: // call [rip+iat]
				b = append(b, 0xFF, 0x15)
				b = binary.LittleEndian.AppendUint32(b, uint32(int32(iat[g.r.IntN(len(iat))]-(ip+6))))
			case k < 30: // lea reg, [rip+string]
				b = append(b, 0x48, 0x8D, 0x05|reg()<<3)
				b = binary.LittleEndian.AppendUint32(b, uint32(int32(strs[g.r.IntN(len(strs))]-(ip+7))))
			case k < 48: // mov reg, [rbp-disp8] / mov [rbp-disp8], reg
				op := byte(0x8B)
				if g.r.IntN(2) == 0 {
					op = 0x89
				}
				b = append(b, 0x48, op, 0x45|reg()<<3, byte(-8*(1+g.r.IntN(int(frame/8)))))
			case k < 58: // mov reg, reg
				b = append(b, 0x48, 0x8B, 0xC0|reg()<<3|reg())
			case k < 64: // mov ecx/edx, imm32 (small constants)
				b = append(b, 0xB8|reg())
				b = binary.LittleEndian.AppendUint32(b, uint32(g.r.IntN(64)*g.r.IntN(64)))
			case k < 72: // test eax, eax; jcc rel8
				b = append(b, 0x85, 0xC0, 0x74+byte(g.r.IntN(2)), byte(4+g.r.IntN(40)))
			case k < 76: // jcc rel32
				b = append(b, 0x0F, 0x84+byte(g.r.IntN(2)))
				b = binary.LittleEndian.AppendUint32(b, uint32(16+g.r.IntN(400)))
			case k < 84: // add/sub/cmp reg, imm8
				b = append(b, 0x48, 0x83, 0xC0|[]byte{0, 5, 7}[g.r.IntN(3)]<<3|reg(), byte(g.r.IntN(32)))
			case k < 90: // xor reg, reg
				r := reg()
				b = append(b, 0x33, 0xC0|r<<3|r)
			case k < 95: // movzx eax, byte [reg+disp8]
				b = append(b, 0x0F, 0xB6, 0x40|reg()<<3|reg(), byte(g.r.IntN(64)))
			default: // mov reg, [rip+global]
				b = append(b, 0x48, 0x8B, 0x05|reg()<<3)
				b = binary.LittleEndian.AppendUint32(b, uint32(int32(strs[g.r.IntN(len(strs))]-(ip+7))&^7))
			}
		}
		b = append(b, 0x48, 0x83, 0xC4, frame) // add rsp, frame
		b = append(b, 0x5D)                    // pop rbp
		b = append(b, 0x48, 0x8B, 0x5C, 0x24, 0x08)
		b = append(b, 0xC3) // ret
	}
	if len(b) < size {
		b = append(b, bytes.Repeat([]byte{0xCC}, size-len(b))...)
	}
	return b[:size]
}

// reloc generates base relocation blocks for 4 KiB pages of the code.
func (g *peGen) reloc(rva, textLen, size int) []byte {
	var b []byte
	for page := 0; len(b) < size; page = (page + 1) % max(1, textLen/4096) {
		n := 8 + g.r.IntN(24)
		b = binary.LittleEndian.AppendUint32(b, uint32(rva+page*4096))
		b = binary.LittleEndian.AppendUint32(b, uint32(8+2*n))
		off := 0
		for range n {
			off += 8 + g.r.IntN(4096/n)
			b = binary.LittleEndian.AppendUint16(b, uint16(0xA000|min(off, 4095)))
		}
	}
	return b[:size]
}

// vocabulary is the word list of the generated text; earlier words are
// drawn more often (a Zipf-like spread).
var vocabulary = strings.Fields(`the of and to a in is that for it as with was on be by this are
not or from at which an have file system windows data image value key
driver service user setting registry volume disk partition network device
error update security policy version build language folder program path
name table index record stream block chunk header entry resource capture
boot server client group account password token session process thread
memory buffer cache page sector cluster offset length size count time
date state status option default install configure enable disable start
stop load read write open close create delete copy move check verify
compress decompress format parse encode decode store apply mount report
local remote primary secondary current previous next first last new old
small large empty full valid invalid missing unknown internal external`)

func word(r *rand.Rand) string {
	i := int(r.ExpFloat64() * float64(len(vocabulary)) / 5)
	return vocabulary[min(i, len(vocabulary)-1)]
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func sentence(r *rand.Rand) string {
	n := 5 + r.IntN(14)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = word(r)
	}
	ws[0] = title(ws[0])
	return strings.Join(ws, " ") + "."
}

// Prose returns about n bytes of English-like paragraphs (CRLF lines).
func Prose(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		line := 0
		for range 3 + r.IntN(6) {
			s := sentence(r) + " "
			if line+len(s) > 78 {
				b.WriteString("\r\n")
				line = 0
			}
			b.WriteString(s)
			line += len(s)
		}
		b.WriteString("\r\n\r\n")
	}
	return b.Bytes()[:n]
}

// Source returns about n bytes of C-like source code.
func Source(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	var b bytes.Buffer
	types := []string{"int", "DWORD", "HANDLE", "BOOL", "ULONGLONG", "const WCHAR *", "struct wim_entry *", "size_t"}
	ident := func() string { return word(r) + "_" + word(r) }
	for b.Len() < n {
		fmt.Fprintf(&b, "/*\n * %s\n * %s\n */\n", sentence(r), sentence(r))
		fmt.Fprintf(&b, "static %s\n%s(%s %s, %s %s)\n{\n", types[r.IntN(len(types))], ident(), types[r.IntN(len(types))], word(r), types[r.IntN(len(types))], word(r))
		for range 2 + r.IntN(12) {
			switch r.IntN(5) {
			case 0:
				fmt.Fprintf(&b, "\t%s %s = %d;\n", types[r.IntN(len(types))], word(r), r.IntN(4096))
			case 1:
				fmt.Fprintf(&b, "\tif (%s(%s) != %s) {\n\t\tERROR(\"%s\");\n\t\treturn %s;\n\t}\n", ident(), word(r), strings.ToUpper(ident()), sentence(r), strings.ToUpper(word(r)))
			case 2:
				fmt.Fprintf(&b, "\tfor (i = 0; i < %s->%s; i++)\n\t\t%s(&%s[i]);\n", word(r), word(r), ident(), word(r))
			case 3:
				fmt.Fprintf(&b, "\t%s = %s(%s, %s);\n", word(r), ident(), word(r), word(r))
			default:
				fmt.Fprintf(&b, "\t/* %s */\n", sentence(r))
			}
		}
		b.WriteString("\treturn 0;\n}\n\n")
	}
	return b.Bytes()[:n]
}

// XML returns about n bytes of an XML manifest-like document.
func XML(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\r\n<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\r\n")
	for b.Len() < n {
		fmt.Fprintf(&b, "  <file name=\"%s.dll\" destinationPath=\"$(runtime.system32)\\\" sourceName=\"%s.dll\" importPath=\"$(build.nttree)\\\">\r\n", word(r)+word(r), word(r))
		fmt.Fprintf(&b, "    <asmv2:hash xmlns:asmv2=\"urn:schemas-microsoft-com:asm.v2\"><dsig:DigestValue>%x</dsig:DigestValue></asmv2:hash>\r\n", r.Uint64())
		fmt.Fprintf(&b, "  </file>\r\n  <registryKey keyName=\"HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\%s\\%s\">\r\n", title(word(r)), title(word(r)))
		fmt.Fprintf(&b, "    <registryValue name=\"%s\" valueType=\"REG_DWORD\" value=\"0x%08x\" />\r\n  </registryKey>\r\n", title(word(r)), r.IntN(1<<16))
	}
	return b.Bytes()[:n]
}

// Log returns about n bytes of a timestamped log file.
func Log(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 4))
	var b bytes.Buffer
	t := 1700000000
	for b.Len() < n {
		t += r.IntN(3)
		fmt.Fprintf(&b, "2023-11-%02d %02d:%02d:%02d, %-7s %-4s %s [0x%08x]\r\n", 14+t/86400%10, t/3600%24, t/60%60, t%60,
			[]string{"Info", "Info", "Info", "Warning", "Error"}[r.IntN(5)], []string{"CBS", "CSI", "DISM", "DPX"}[r.IntN(4)], sentence(r), r.IntN(1<<12))
	}
	return b.Bytes()[:n]
}

// Hive returns a registry hive (regf) with about keys keys, each with a
// few values of every common type.
func Hive(seed uint64, keys int) []byte {
	r := rand.New(rand.NewPCG(seed, 5))
	h := regf.New()
	for i := range keys {
		k := h.Key(fmt.Sprintf(`Microsoft\Windows\CurrentVersion\%s\%s %d`, title(word(r)), title(word(r)), i))
		k.SetString("DisplayName", sentence(r))
		k.SetExpandString("ImagePath", `%SystemRoot%\System32\drivers\`+word(r)+".sys")
		k.SetDWORD("Start", uint32(r.IntN(5)))
		k.SetQWORD("InstallTime", 133000000000000000+r.Uint64()%1e15)
		k.SetMultiString("DependOnService", []string{word(r), word(r)})
		bin := make([]byte, 16+r.IntN(64))
		for j := range bin {
			bin[j] = byte(r.IntN(8))
		}
		k.SetBinary("FailureActions", regf.TypeBinary, bin)
	}
	b, err := h.Bytes()
	if err != nil {
		panic(fmt.Sprintf("testcorpus: hive: %v", err)) // the generator's own keys are always valid
	}
	return b
}
