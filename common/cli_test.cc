#include "common/cli.h"

#include "gtest/gtest.h"

namespace relayscope {
namespace {

TEST(NormalizeFlagNames, DashedNamesBecomeUnderscoresValuesStayAsTheyAre) {
  const char* argv[] = {"prog", "diagnose", "--report-dir=/tmp/a-b", "--proxy-user", "me-you",
                        "-x",   "--",       "--not-a-flag"};
  std::vector<std::string> out = NormalizeFlagNames(8, const_cast<char**>(argv));
  EXPECT_EQ(out, (std::vector<std::string>{"prog", "diagnose", "--report_dir=/tmp/a-b",
                                           "--proxy_user", "me-you", "-x", "--", "--not-a-flag"}));
  std::vector<char*> pointers = ArgvPointers(out);
  EXPECT_EQ(pointers.size(), 9u);
  EXPECT_EQ(pointers.back(), nullptr);
}

using Args = std::vector<std::string>;

TEST(JoinRepeatedFlags, RepeatsOfAListFlagAddUpWhereTheFirstWas) {
  EXPECT_EQ(JoinRepeatedFlags({"prog", "--proxy=http://a:1", "--quiet", "--proxy", "http://b:2",
                               "-proxy=socks5://c:3", "diagnose"},
                              {"proxy"}),
            (Args{"prog", "--proxy=http://a:1,http://b:2,socks5://c:3", "--quiet", "diagnose"}));
}

TEST(JoinRepeatedFlags, OtherFlagsAndASingleOccurrenceAreLeftAsTheyAre) {
  const Args args = {"prog", "--timeout=2s", "--timeout=3s", "--region=emea", "diagnose"};
  EXPECT_EQ(JoinRepeatedFlags(args, {"region", "proxy"}), args);
}

TEST(JoinRepeatedFlags, EachListFlagIsJoinedOnItsOwn) {
  EXPECT_EQ(JoinRepeatedFlags(
                {"prog", "--region=emea", "--ports=443", "--region=apac", "--ports=8200,8080"},
                {"region", "ports"}),
            (Args{"prog", "--region=emea,apac", "--ports=443,8200,8080"}));
}

TEST(JoinRepeatedFlags, EmptyValuesAddNothingAndFlagsEndAtDoubleDash) {
  EXPECT_EQ(
      JoinRepeatedFlags({"prog", "--proxy=", "--proxy=http://a:1", "--", "--proxy=x"}, {"proxy"}),
      (Args{"prog", "--proxy=http://a:1", "--", "--proxy=x"}));
  // A name that only starts like a list flag is another flag.
  EXPECT_EQ(JoinRepeatedFlags({"prog", "--proxy_user=me", "--proxy=http://a:1"}, {"proxy"}),
            (Args{"prog", "--proxy_user=me", "--proxy=http://a:1"}));
  // "--proxy" last, with no value: left for absl to report as missing.
  EXPECT_EQ(JoinRepeatedFlags({"prog", "--proxy"}, {"proxy"}), (Args{"prog", "--proxy="}));
}

}  // namespace
}  // namespace relayscope
