// Fixture files: the inputs of the tests (prefs.js, .reg exports, lease
// files, PAC files...) live as real-looking files in testdata/ folders
// beside the tests that read them, and the fuzz seed generator reads the
// same files, so each fixture is written down once.
//
//   const std::string prefs = ReadTestdata("agent/discovery/testdata/prefs.js");
#ifndef TESTS_SUPPORT_TESTDATA_H_
#define TESTS_SUPPORT_TESTDATA_H_

#include <string>

#include "absl/strings/string_view.h"

namespace relayscope::test {

// The absolute path of `path`, which is relative to the source tree's root.
std::string TestdataPath(absl::string_view path);

// The bytes of the fixture at `path` (relative to the source tree's root),
// exactly as stored. A missing or unreadable fixture is a broken test, not
// an input: it fails the test with the path (a gtest failure) and returns
// "".
std::string ReadTestdata(absl::string_view path);

}  // namespace relayscope::test

#endif  // TESTS_SUPPORT_TESTDATA_H_
