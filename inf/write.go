package inf

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Write writes the settings as a WDSCapture.inf (UTF-8, CRLF line ends) that
// Parse reads back to the same settings. Every key is written, including the
// extensions Compression and CheckIntegrity (Finish when set); [ExclusionList] is always
// written, so an empty list stays empty. The password is written only when
// includePassword is true; otherwise Password is left empty. Write refuses
// settings that do not pass Validate.
func (s *Settings) Write(w io.Writer, includePassword bool) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("write capture settings: %w", err)
	}
	bw := bufio.NewWriter(w)
	line := func(text string) { bw.WriteString(text + "\r\n") }
	kv := func(key, value string) { line(key + "=" + quoteIfNeeded(value)) }

	line("; WDSCapture.inf written by wdscapture.")
	line("; Compression, CheckIntegrity and WDSServerCertificate are wdscapture extensions to the WDS format.")
	line("[" + SectionCapture + "]")
	kv(KeyUnattended, yesNo(s.Unattended))
	kv(KeyVolumeToCapture, normalizeVolume(s.VolumeToCapture))
	root, _ := normalizeRoot(s.SystemRoot) // valid: Validate passed
	kv(KeySystemRoot, root)
	kv(KeyImageName, s.ImageName)
	kv(KeyImageDescription, s.ImageDescription)
	kv(KeyDestinationFile, s.DestinationFile)
	kv(KeyOverwrite, s.Overwrite.String())
	kv(KeyCompression, compressionName(s.Compression))
	kv(KeyCheckIntegrity, yesNo(s.CheckIntegrity))
	if s.Finish != "" {
		kv(KeyFinish, s.Finish)
	}
	line("")
	line("[" + SectionExclusionList + "]")
	for _, p := range s.Exclusions {
		line(quotePattern(p))
	}
	if len(s.ExclusionExceptions) > 0 {
		line("")
		line("[" + SectionExclusionException + "]")
		for _, p := range s.ExclusionExceptions {
			line(quotePattern(p))
		}
	}
	line("")
	line("[" + SectionWDS + "]")
	kv(KeyUploadToWDSServer, yesNo(s.Upload))
	kv(KeyWDSServerName, s.ServerName)
	kv(KeyWDSServerCertificate, s.ServerCertificate)
	kv(KeyWDSImageGroup, s.ImageGroup)
	kv(KeyUsername, s.Username)
	if includePassword {
		kv(KeyPassword, s.Password.Reveal())
	} else {
		kv(KeyPassword, "")
	}
	kv(KeyDeleteLocalWimOnSuccess, yesNo(s.DeleteLocalWimOnSuccess))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write capture settings: %w", err)
	}
	return nil
}

// quoteIfNeeded quotes a value that Parse would otherwise change: surrounding
// blanks would be trimmed and a surrounding pair of quotes removed.
func quoteIfNeeded(v string) string {
	if v != trimBlank(v) || unquote(v) != v {
		return `"` + v + `"`
	}
	return v
}

// quotePattern also quotes list lines that Parse would read as comments or
// section headers.
func quotePattern(p string) string {
	if p != "" && strings.ContainsRune(`;#["'`, rune(p[0])) {
		return `"` + p + `"`
	}
	return quoteIfNeeded(p)
}
