// Throughput of each backup pipeline stage on 1 MiB chunks, to see which
// stage bounds the whole (run: build/cairn_microbench).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "cairn/chunker.h"
#include "cairn/crypto.h"
#include "cairn/format.h"

namespace cairn {
namespace {

Bytes RandomBytes(size_t n) {
  std::mt19937_64 rng(1);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

Bytes TextBytes(size_t n) {
  static const char* words[] = {"backup ", "restore ", "chunk ", "pack ", "index ", "tree ", "snapshot ", "\n"};
  std::mt19937 rng(2);
  Bytes b;
  while (b.size() < n) {
    const char* w = words[rng() % 8];
    b.insert(b.end(), w, w + strlen(w));
  }
  b.resize(n);
  return b;
}

void BM_Chunker(benchmark::State& state) {
  Chunker chunker(ChunkerParams{}, 42);
  Bytes data = RandomBytes(64 << 20);
  for (auto _ : state) {
    size_t pos = 0, chunks = 0;
    while (pos < data.size()) {
      pos += chunker.NextBoundary(ByteView(data).subspan(pos));
      ++chunks;
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Chunker);

void BM_BlobId(benchmark::State& state) {
  auto key = crypto::MasterKey::Generate().value();
  Bytes data = RandomBytes(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::BlobId(key, data));
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_BlobId);

void BM_Seal(benchmark::State& state) {
  auto key = crypto::MasterKey::Generate().value();
  Bytes data = RandomBytes(1 << 20), out;
  for (auto _ : state) {
    out.clear();
    crypto::Seal(key, data, &out);
  }
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Seal);

void BM_EncodeBlob(benchmark::State& state) {
  auto key = crypto::MasterKey::Generate().value();
  Bytes data = state.range(0) ? TextBytes(1 << 20) : RandomBytes(1 << 20), out;
  CompressionOptions options{static_cast<int>(state.range(1))};
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(EncodeBlob(key, Id{}, data, options, &out));
  }
  state.SetBytesProcessed(state.iterations() * data.size());
  state.SetLabel(std::string(state.range(0) ? "text" : "random") + " zstd " + std::to_string(state.range(1)));
}
BENCHMARK(BM_EncodeBlob)->Args({1, 1})->Args({1, 3})->Args({0, 3});

void BM_Sha256Pack(benchmark::State& state) {
  Bytes data = RandomBytes(8 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(crypto::Sha256(data));
  state.SetBytesProcessed(state.iterations() * data.size());
}
BENCHMARK(BM_Sha256Pack);

}  // namespace
}  // namespace cairn
