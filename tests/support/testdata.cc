#include "tests/support/testdata.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace relayscope::test {

std::string TestdataPath(absl::string_view path) {
  // RELAYSCOPE_SOURCE_DIR is this library's compile definition: the tests
  // run from the build tree, and the fixtures stay in the source tree.
  return absl::StrCat(RELAYSCOPE_SOURCE_DIR, "/", path);
}

std::string ReadTestdata(absl::string_view path) {
  auto content = ReadFileToString(TestdataPath(path));
  if (!content.ok()) {
    ADD_FAILURE() << "fixture " << path << ": " << content.status();
    return "";
  }
  return *std::move(content);
}

}  // namespace relayscope::test
