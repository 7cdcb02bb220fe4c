// RigTest: the base fixture of every test that uses real components.
//
// SetUp skips the test (saying why) unless it runs as root, moves the test
// into its own network namespace, and creates a scenario dir for configs
// and logs. The dir is removed after a passing test and kept, with its path
// printed, after a failing one, so daemon logs can be read.
#ifndef TESTS_RIG_FIXTURE_H_
#define TESTS_RIG_FIXTURE_H_

#include <string>

#include "gtest/gtest.h"

namespace relayscope::rig {

class RigTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // The scenario dir (readable by nobody, for daemons that drop to it).
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_FIXTURE_H_
