package scan

// Test helpers shared with the external end-to-end test (package scan_test).
var (
	RequireTools = requireTools
	Run          = run
	NewImage     = newImage
	PlaceAt      = placeAt
	MakeGPTDisk  = makeGPTDisk
	SfdiskJSON   = sfdiskJSON
	FileDigest   = fileDigest
)
