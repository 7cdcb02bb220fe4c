#include "agent/report/report_writer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::SessionReport InterceptedReport() {
  v1::SessionReport r;
  r.set_session_id("0f1e2d3c");
  r.mutable_agent()->set_version("0.1.0");
  v1::Attempt* a = r.add_attempts();
  a->set_sequence(1);
  a->set_relay("emea-1");
  a->set_address("81.144.208.229");
  a->set_port(80);
  a->set_route_kind(v1::ROUTE_KIND_DIRECT);
  a->set_outcome(v1::OUTCOME_PROTOCOL_INTERFERENCE);
  a->mutable_interference()->set_status_line("HTTP/1.0 400 Bad Request");
  // Evidence comes from an untrusted middlebox.
  a->mutable_interference()->set_page_title("<script>alert(1)</script>");
  r.mutable_verdict()->set_status(v1::VERDICT_STATUS_UNREACHABLE);
  r.mutable_verdict()->set_summary("No relay can be reached <b>at all</b>");
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ReportWriter, HtmlShowsHostileEvidenceAsTextNeverAsMarkup) {
  std::string html = RenderHtml(InterceptedReport());
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;at all&lt;/b&gt;"));
}

TEST(ReportWriter, TextLogIsSeedStyleWithTheHandshakeHexdumps) {
  std::map<uint64_t, AttemptTrace> traces;
  traces[1] = AttemptTrace{"3f a2 00 ...", "01 02 ...", "48 54 54 50 ...", 412};
  std::string text = RenderText(InterceptedReport(), &traces);
  EXPECT_THAT(text, ::testing::ContainsRegex(
                        "\\[[0-9]{4}\\.[0-9]{2}\\.[0-9]{2}-[0-9]{2}:[0-9]{2}:[0-9]{2}\\]-->"
                        "\\[1\\] Trying emea-1 81\\.144\\.208\\.229:80 via direct\n"));
  EXPECT_THAT(text, HasSubstr("]-->    Y  = 3f a2 00 ... (256 bytes)\n"));
  EXPECT_THAT(text, HasSubstr("]-->    R2 <- 412 bytes: 48 54 54 50 ...\n"));
  EXPECT_THAT(text, HasSubstr("[1] emea-1 81.144.208.229:80 via direct: protocol interference"));
  EXPECT_THAT(text, HasSubstr("HTTP/1.0 400 Bad Request title=\"<script>"));
  EXPECT_THAT(text, HasSubstr("]-->VERDICT: UNREACHABLE"));
  // Without traces there are no hexdump lines.
  EXPECT_THAT(RenderText(InterceptedReport()), Not(HasSubstr("Y  =")));
}

TEST(ReportWriter, JsonUsesProtoFieldNames) {
  std::string json = RenderJson(InterceptedReport());
  EXPECT_THAT(json, HasSubstr("\"session_id\": \"0f1e2d3c\""));
  EXPECT_THAT(json, HasSubstr("\"outcome\": \"OUTCOME_PROTOCOL_INTERFERENCE\""));
}

TEST(ReportWriter, WritesAllThreeFilesWithoutLeavingTemporaries) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("relayscope-report-test-" + std::to_string(getpid()));
  auto paths = WriteReports(InterceptedReport(), dir + "/nested");
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(paths->html, dir + "/nested/connrpt.html");
  EXPECT_THAT(ReadFile(paths->text), HasSubstr("VERDICT: UNREACHABLE"));
  EXPECT_THAT(ReadFile(paths->json), HasSubstr("0f1e2d3c"));
  EXPECT_THAT(ReadFile(paths->html), HasSubstr("<!DOCTYPE html>"));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/nested")) {
    EXPECT_THAT(entry.path().string(), Not(HasSubstr(".tmp")));
    ++files;
  }
  EXPECT_EQ(files, 3);
  std::filesystem::remove_all(dir);
}

TEST(ReportWriter, UnwritableDirectoryIsAClearError) {
  // A directory below a regular file cannot exist.
  auto paths = WriteReports(InterceptedReport(), "/proc/self/status/reports");
  ASSERT_FALSE(paths.ok());
  EXPECT_THAT(std::string(paths.status().message()), HasSubstr("/proc/self/status/reports"));
}

}  // namespace
}  // namespace relayscope::agent
