#include "engine/ordered_pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>

namespace cairn {
namespace {

struct Item {
  int input = 0;
  int output = 0;
  void Reset() { input = output = -1; }
};

TEST(OrderedPipelineTest, ConsumesEveryItemInProductionOrder) {
  int next_input = 0;
  std::vector<int> consumed;
  std::atomic<int> in_flight{0}, max_in_flight{0};
  OrderedPipeline<Item>::Run(
      4, 3,
      [&](Item* item) {
        if (next_input == 1000) return false;
        item->input = next_input++;
        int now = ++in_flight;
        for (int seen = max_in_flight; now > seen && !max_in_flight.compare_exchange_weak(seen, now);) {
        }
        return true;
      },
      [&](Item* item) {
        // Uneven work makes later items finish first.
        if (item->input % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        item->output = item->input * 2;
      },
      [&](Item* item) {
        consumed.push_back(item->output);
        --in_flight;
        return true;
      });
  ASSERT_EQ(consumed.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(consumed[i], 2 * i);
  EXPECT_LE(max_in_flight.load(), 4);  // the token bound holds
}

TEST(OrderedPipelineTest, ConsumerCanStopEarly) {
  int produced = 0, consumed = 0;
  OrderedPipeline<Item>::Run(
      3, 2,
      [&](Item* item) {
        item->input = produced++;
        return true;  // would go on forever
      },
      [](Item* item) { item->output = item->input; },
      [&](Item* item) { return ++consumed < 10; });
  EXPECT_EQ(consumed, 10);
  EXPECT_LT(produced, 20);
}

TEST(OrderedPipelineTest, EmptyInput) {
  int consumed = 0;
  OrderedPipeline<Item>::Run(
      2, 2, [](Item*) { return false; }, [](Item*) {}, [&](Item*) { return ++consumed, true; });
  EXPECT_EQ(consumed, 0);
}

}  // namespace
}  // namespace cairn
