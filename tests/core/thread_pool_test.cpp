#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace kiln::core {
namespace {

TEST(ThreadPool, RunsEveryItemExactlyOnceAcrossManyLoops) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::atomic<int>> hits(round + 1);
    pool.parallel_for(round + 1, [&](int64_t i) { ++hits[static_cast<std::size_t>(i)]; });
    for (auto& h : hits)
      ASSERT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, RethrowsAnItemsExceptionAfterTheLoop) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(100,
                                 [&](int64_t i) {
                                   ++ran;
                                   if (i == 37) throw std::runtime_error("item 37");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 100);  // the other items still ran
  int after = 0;
  pool.parallel_for(5, [&](int64_t) { __atomic_add_fetch(&after, 1, __ATOMIC_SEQ_CST); });
  EXPECT_EQ(after, 5);  // usable after an error
}

}  // namespace
}  // namespace kiln::core
