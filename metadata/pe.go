package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Processor architecture codes used in the WIM <ARCH> element (the Windows
// PROCESSOR_ARCHITECTURE_* values).
const (
	ArchX86   = 0
	ArchARM   = 5
	ArchIA64  = 6
	ArchAMD64 = 9
	ArchARM64 = 12
)

// ErrNotPE means the file is not a PE image (by wimlib's checks).
var ErrNotPE = errors.New("not a valid PE binary")

// ErrUnknownMachine means the PE header names a machine type that has no
// WIM architecture code.
var ErrUnknownMachine = errors.New("PE machine type not recognized")

// PEMachineArch reads the COFF Machine field of a PE image (normally
// System32\kernel32.dll) and returns the WIM ARCH code: 0x14C → 0 (x86),
// 0x1C0/0x1C2/0x1C4 → 5 (ARM), 0x200 → 6 (IA64), 0x8664 → 9 (x64),
// 0xAA64 → 12 (ARM64). Like wimlib it requires the 64-byte DOS header,
// e_lfanew 4-aligned with 6 bytes after it ("PE\0\0" and Machine) inside
// the file. It reads at most 70 bytes.
func PEMachineArch(r io.ReaderAt) (int, error) {
	var dos [0x40]byte
	if _, err := r.ReadAt(dos[:], 0); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return -1, fmt.Errorf("file shorter than the 64-byte DOS header: %w", ErrNotPE)
		}
		return -1, fmt.Errorf("read DOS header: %w", err)
	}
	lfanew := binary.LittleEndian.Uint32(dos[0x3C:])
	if lfanew&3 != 0 {
		return -1, fmt.Errorf("e_lfanew 0x%x is not 4-aligned: %w", lfanew, ErrNotPE)
	}
	var pe [6]byte
	if _, err := r.ReadAt(pe[:], int64(lfanew)); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return -1, fmt.Errorf("PE header at 0x%x is past the end of the file: %w", lfanew, ErrNotPE)
		}
		return -1, fmt.Errorf("read PE header at 0x%x: %w", lfanew, err)
	}
	if string(pe[:4]) != "PE\x00\x00" {
		return -1, fmt.Errorf("no PE signature at 0x%x: %w", lfanew, ErrNotPE)
	}
	switch m := binary.LittleEndian.Uint16(pe[4:]); m {
	case 0x014C:
		return ArchX86, nil
	case 0x01C0, 0x01C2, 0x01C4:
		return ArchARM, nil
	case 0x0200:
		return ArchIA64, nil
	case 0x8664:
		return ArchAMD64, nil
	case 0xAA64:
		return ArchARM64, nil
	default:
		return -1, fmt.Errorf("machine 0x%x: %w", m, ErrUnknownMachine)
	}
}
