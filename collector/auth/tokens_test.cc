#include "collector/auth/tokens.h"

#include <unistd.h>

#include "common/files.h"
#include "gmock/gmock.h"
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
            "t.txt:2: expected \"<name> <sha256-hex> [not-after=<RFC 3339 time>]\" (64 hex "
            "digits)");
  EXPECT_EQ(TokenAuthenticator::Parse("a " + Sha256Hex("x") + " expires=tomorrow\n", "t.txt")
                .status()
                .message(),
            "t.txt:1: the third field must be not-after=<RFC 3339 time> (2027-01-31T00:00:00Z), "
            "not \"expires=tomorrow\"");
  EXPECT_FALSE(
      TokenAuthenticator::Parse("a " + Sha256Hex("x") + " not-after=2027-13-01\n", "t").ok());
  EXPECT_FALSE(
      TokenAuthenticator::Parse("a " + Sha256Hex("x") + " not-after=2027-01-01T00:00:00Z b\n", "t")
          .ok());
  EXPECT_EQ(TokenAuthenticator::Parse("# only comments\n", "t.txt").status().message(),
            "t.txt: no tokens");
  EXPECT_EQ(TokenAuthenticator::Load(::testing::TempDir() + "/no-such-token-file").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Tokens, ATokenPastItsNotAfterTimeIsRefusedAndSaysSo) {
  auto auth = TokenAuthenticator::Parse("lyon " + Sha256Hex("t0ken-lyon") +
                                            " not-after=2026-12-31T23:59:59Z\n" + "nice " +
                                            Sha256Hex("t0ken-nice") + "\n",
                                        "tokens");
  ASSERT_TRUE(auth.ok()) << auth.status();
  const absl::Time before =
      absl::FromCivil(absl::CivilSecond(2026, 12, 31, 23, 59, 59), absl::UTCTimeZone());
  EXPECT_EQ(*auth->Authenticate("Bearer t0ken-lyon", before), "lyon");
  auto after = auth->Authenticate("Bearer t0ken-lyon", before + absl::Seconds(1));
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(std::string(after.status().message()),
            "the bearer token expired at 2026-12-31T23:59:59Z; ask the collector's operators for "
            "a new one");
  // A token without a date does not expire; an unknown one still learns nothing.
  EXPECT_EQ(*auth->Authenticate("Bearer t0ken-nice", absl::InfiniteFuture()), "nice");
  EXPECT_EQ(auth->Authenticate("Bearer t0ken-x", before).status().message(),
            "a valid bearer token is required");
}

// Writes `text` to `path` the way operators and Kubernetes do: a new file
// renamed over the old one.
void Replace(const std::string& path, const std::string& text) {
  ASSERT_TRUE(WriteFileAtomically(path, text).ok());
}

TEST(Tokens, AChangedFileIsReloadedInEveryCopyAndABrokenOneKeepsTheTokensInUse) {
  const std::string path = ::testing::TempDir() + "/reload-tokens-" + std::to_string(getpid());
  Replace(path, "a " + Sha256Hex("token-a") + "\nb " + Sha256Hex("token-b") + "\n");
  auto loaded = TokenAuthenticator::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const TokenAuthenticator copy = *loaded;       // what a service holds
  EXPECT_EQ(*loaded->ReloadIfChanged(), false);  // unchanged
  EXPECT_TRUE(copy.Authenticate("Bearer token-b").ok());

  // Revoke b, add c.
  Replace(path, "a " + Sha256Hex("token-a") + "\nc " + Sha256Hex("token-c") + "\n");
  EXPECT_EQ(*loaded->ReloadIfChanged(), true);
  EXPECT_FALSE(copy.Authenticate("Bearer token-b").ok());
  EXPECT_EQ(*copy.Authenticate("Bearer token-c"), "c");
  EXPECT_EQ(*loaded->ReloadIfChanged(), false);

  // A typo: reported once, and a and c keep working.
  Replace(path, "a " + Sha256Hex("token-a") + "\nc not-a-hash\n");
  auto broken = loaded->ReloadIfChanged();
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(broken.status().message(), ::testing::HasSubstr(":2: expected"));
  EXPECT_EQ(*loaded->ReloadIfChanged(), false);  // the same broken version: not again
  EXPECT_EQ(*copy.Authenticate("Bearer token-c"), "c");
  EXPECT_EQ(copy.size(), 2u);

  // The file removed: reported, tokens kept; restored: reloaded.
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_EQ(loaded->ReloadIfChanged().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*copy.Authenticate("Bearer token-a"), "a");
  Replace(path, "a " + Sha256Hex("token-a") + "\n");
  EXPECT_EQ(*loaded->ReloadIfChanged(), true);
  EXPECT_FALSE(copy.Authenticate("Bearer token-c").ok());
  unlink(path.c_str());

  // Parsed from text, or allow-all: nothing to reload.
  auto parsed = TokenAuthenticator::Parse("a " + Sha256Hex("token-a"), "text");
  EXPECT_EQ(*parsed->ReloadIfChanged(), false);
}

TEST(Tokens, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace relayscope::collector
