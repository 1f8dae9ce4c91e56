#include "core/tfevents.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "tests/temp_dir.h"

namespace kiln::core {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find("tfevents") != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

std::vector<int64_t> steps_of(const TfEventFile& f, const std::string& tag) {
  std::vector<int64_t> steps;
  for (const TfScalar& s : f.scalars)
    if (s.tag == tag) steps.push_back(s.step);
  return steps;
}

TEST(TfEvents, Crc32cHasItsCheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("56789", crc32c("1234")), 0xE3069283u);  // continues
}

TEST(TfEvents, ARecordIsLengthMaskedCrcPayloadMaskedCrc) {
  const std::string r = tfrecord("abc");
  ASSERT_EQ(r.size(), 3u + 16u);
  EXPECT_EQ(r.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(r.substr(12, 3), "abc");
}

TEST(TfEvents, ScalarsWrittenAreReadBackWithTheirSteps) {
  kiln::testing::TempDir dir;
  {
    TfEventsWriter w = TfEventsWriter::open(dir.path(), -1);
    EXPECT_NE(fs::path(w.path()).filename().string().find("events.out.tfevents."),
              std::string::npos);
    w.add(10, {{"train/loss", 0.5}, {"lr", 1e-3}});
    w.add(20, {{"train/loss", 0.25}});
  }
  ASSERT_EQ(event_files(dir.path()).size(), 1u);
  const TfEventFile f = read_tfevents(event_files(dir.path())[0]);
  EXPECT_FALSE(f.damaged);
  EXPECT_EQ(f.records_ok, 3);  // the file version and two events
  ASSERT_EQ(f.scalars.size(), 3u);
  EXPECT_EQ(f.scalars[0].tag, "train/loss");
  EXPECT_EQ(f.scalars[0].step, 10);
  EXPECT_FLOAT_EQ(f.scalars[1].value, 1e-3f);
  EXPECT_EQ(f.scalars[2].step, 20);
  EXPECT_GT(f.scalars[2].wall_time, 1.7e9);
}

TEST(TfEvents, AResumedWriterDropsLaterStepsAndACutRecordThenAppends) {
  kiln::testing::TempDir dir;
  std::string path;
  {
    TfEventsWriter w = TfEventsWriter::open(dir.path(), -1);
    path = w.path();
    for (int step = 10; step <= 50; step += 10)
      w.add(step, {{"train/loss", step / 100.0}});
  }
  {
    std::ofstream cut(path, std::ios::app | std::ios::binary);  // a record a kill cut short
    cut << tfrecord(tf_scalar_event(0, 60, {{"train/loss", 1}})).substr(0, 20);
  }
  EXPECT_TRUE(read_tfevents(path).damaged);
  {
    TfEventsWriter w = TfEventsWriter::open(dir.path(), 30);  // resumed at step 30
    EXPECT_EQ(w.path(), path);
    w.add(40, {{"train/loss", 0.4}});
  }
  const TfEventFile f = read_tfevents(path);
  EXPECT_FALSE(f.damaged);
  EXPECT_EQ(steps_of(f, "train/loss"), (std::vector<int64_t>{10, 20, 30, 40}));
  EXPECT_EQ(event_files(dir.path()).size(), 1u);
}

TEST(TfEvents, AFileOfGarbageKeepsNothingAndIsStartedAgain) {
  kiln::testing::TempDir dir;
  const std::string path = (fs::path(dir.path()) / "events.out.tfevents.1.host.kiln").string();
  std::ofstream(path) << "not a record at all, just text that is long enough";
  const TfEventFile garbage = read_tfevents(path);
  EXPECT_EQ(garbage.records_ok, 0);
  EXPECT_TRUE(garbage.damaged);
  {
    TfEventsWriter w = TfEventsWriter::open(dir.path(), 0);
    w.add(1, {{"x", 2}});
  }
  const TfEventFile f = read_tfevents(path);
  EXPECT_FALSE(f.damaged);
  EXPECT_EQ(f.records_ok, 2);  // a file version again, then the event
  EXPECT_EQ(steps_of(f, "x"), std::vector<int64_t>{1});
}

TEST(TfEvents, AHugeLengthIsNotTrusted) {
  kiln::testing::TempDir dir;
  const std::string path = (fs::path(dir.path()) / "events.out.tfevents.1.h.kiln").string();
  std::string header(8, '\xff');
  std::string record = tfrecord("x");
  record.replace(0, 8, header);  // its header CRC no longer matches either
  std::ofstream(path, std::ios::binary) << tfrecord(tf_scalar_event(0, 1, {{"a", 1}})) << record;
  const TfEventFile f = read_tfevents(path);
  EXPECT_EQ(f.records_ok, 1);
  EXPECT_TRUE(f.damaged);
}

TEST(TfEvents, AMissingFileIsAnInputError) {
  EXPECT_THROW(read_tfevents("/nonexistent/events.out.tfevents.x"), InputError);
}

}  // namespace
}  // namespace kiln::core
