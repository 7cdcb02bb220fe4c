// The request a fresh sandbox child (the Windows one) reads from its
// stdin: what the parent encodes comes back whole, and bytes it did not
// write are refused without reading past them.
#include <string>
#include <vector>

#include "agent/pac/pac_sandbox_internal.h"
#include "gtest/gtest.h"

namespace relayscope::agent::pac_internal {
namespace {

TEST(PacChildRequestTest, RoundTripsScriptQueriesAndTheOptionsTheChildUses) {
  PacOptions options;
  options.memory_limit = 48 << 20;
  options.now = absl::FromUnixMillis(1764633600123);
  options.my_addresses = {"10.1.2.3", "fd00::1"};
  const std::string script = std::string("function FindProxyForURL(u, h) { return \"DIRECT\"; }") +
                             std::string(1, '\0') + "\xC3\xBC";
  const std::vector<PacQuery> queries = {{"https://a.example:443/", "a.example"},
                                         {"https://[fd00::8]:8200/", "fd00::8"}};
  const std::string bytes = EncodeChildRequest(script, queries, options);

  std::string got_script;
  std::vector<PacQuery> got_queries;
  PacOptions got;
  ASSERT_TRUE(DecodeChildRequest(bytes, &got_script, &got_queries, &got).ok());
  EXPECT_EQ(got_script, script);
  ASSERT_EQ(got_queries.size(), 2u);
  EXPECT_EQ(got_queries[1].url, "https://[fd00::8]:8200/");
  EXPECT_EQ(got_queries[1].host, "fd00::8");
  EXPECT_EQ(got.memory_limit, options.memory_limit);
  EXPECT_EQ(got.now, options.now);
  EXPECT_EQ(got.my_addresses, options.my_addresses);
}

TEST(PacChildRequestTest, EveryTruncationAndALyingCountAreRefused) {
  const std::string bytes =
      EncodeChildRequest("function FindProxyForURL() {}", {{"https://a/", "a"}}, PacOptions{});
  std::string script;
  std::vector<PacQuery> queries;
  PacOptions options;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeChildRequest(bytes.substr(0, n), &script, &queries, &options).ok()) << n;
  }
  EXPECT_FALSE(DecodeChildRequest(bytes + "x", &script, &queries, &options).ok());
  // The query count (after the magic, memory, time and an empty address
  // list) set to 2^60: refused, not reserved.
  std::string lying = bytes;
  const size_t count_at = std::string("relayscope-pac-request-1\n").size() + size_t{8} * 3;
  lying[count_at + 7] = 0x10;
  EXPECT_FALSE(DecodeChildRequest(lying, &script, &queries, &options).ok());
}

}  // namespace
}  // namespace relayscope::agent::pac_internal
