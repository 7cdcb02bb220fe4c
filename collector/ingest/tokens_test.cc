#include "collector/ingest/tokens.h"

#include "gtest/gtest.h"

namespace relayscope::collector {
namespace {

TEST(Tokens, AcceptsTheTokenWhoseHashIsListedAndNothingElse) {
  const std::string line = "paris-agents " + Sha256Hex("t0ken-paris") + "  # rotated 2026-11\n";
  auto auth = TokenAuthenticator::Parse("# agents\n\n" + line, "tokens");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->size(), 1u);
  EXPECT_EQ(*auth->Authenticate("Bearer t0ken-paris"), "paris-agents");
  for (const char* bad : {"", "Bearer ", "Bearer t0ken-pari", "bearer t0ken-paris", "t0ken-paris",
                          "Basic dXNlcjpwdw=="}) {
    auto result = auth->Authenticate(bad);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_EQ(result.status().message(), "a valid bearer token is required") << bad;
  }
}

TEST(Tokens, MalformedFileNamesTheLine) {
  EXPECT_EQ(TokenAuthenticator::Parse("a " + Sha256Hex("x") + "\nb not-a-hash\n", "t.txt")
                .status()
                .message(),
            "t.txt:2: expected \"<name> <sha256-hex>\" (64 hex digits)");
  EXPECT_EQ(TokenAuthenticator::Parse("# only comments\n", "t.txt").status().message(),
            "t.txt: no tokens");
  EXPECT_EQ(TokenAuthenticator::Load(::testing::TempDir() + "/no-such-token-file").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Tokens, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace relayscope::collector
