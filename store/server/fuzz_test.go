package server

import (
	"testing"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wdscapture/wdscapture/store"
	"github.com/wdscapture/wdscapture/store/protocol"
)

// FuzzUploadMetadata runs the Upload-Metadata header through tusd's
// parser and the server's checks: whatever passes is a safe group name
// and image file name.
func FuzzUploadMetadata(f *testing.F) {
	f.Add("group R3JvdXA=,name TmFtZQ==")
	f.Add("group Li4=,name eA==,file Li4vcmVzLnJ3bQ==")
	f.Add("group,name")
	f.Add("group R,name  ,,")
	f.Fuzz(func(t *testing.T, header string) {
		m, err := parseUploadMeta(handler.ParseMetadataHeader(header))
		if err != nil {
			return
		}
		if store.CheckGroupName(m.Group) != nil || store.CheckImageFileName(m.File) != nil || checkImageName(m.Name) != nil {
			t.Fatalf("accepted unsafe metadata %+v", m)
		}
	})
}

// FuzzRequestJSON decodes the JSON bodies the server accepts.
func FuzzRequestJSON(f *testing.F) {
	f.Add([]byte(`{"user":"LAB\\jdoe","password":"x"}`))
	f.Add([]byte(`{"name":"n","file":"f.wim","description":"d"}`))
	f.Add([]byte(`{"user":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var lr protocol.LoginRequest
		parseJSON(data, &lr)
		var fr protocol.FinalizeRequest
		parseJSON(data, &fr)
	})
}

// FuzzConfig decodes configuration files.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"listen":":8443","session_idle":"30m","reserve_bytes":1}`))
	f.Add([]byte(`{"login_delay":"1ns","login_max_delay":"1h"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		if parseConfig(data, &cfg) == nil {
			if err := cfg.validate(); err != nil {
				t.Fatalf("accepted config fails validation: %v", err)
			}
		}
	})
}

// FuzzState decodes upload state files (written by the server, but read
// back after crashes).
func FuzzState(f *testing.F) {
	f.Add([]byte(`{"state":"finalizing","owner":"LAB\\a","group":"G","name":"n","file":"n.wim"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st uploadState
		parseJSON(data, &st)
	})
}
