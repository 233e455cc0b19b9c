// Port of Go's test/chan/powser1.go: power series as networks of goroutines (after Doug
// McIlroy's "Squinting at Power Series"), with exact rational coefficients.
//
// A power series is a demand channel pair: a consumer sends a request on `req` and then receives
// the next coefficient on `dat`; a coefficient with denominator 0 marks the end of a finite
// series. Every operator (sum, constant multiple, product, derivative, integral, exponential,
// monomial substitution) is a goroutine that serves its output by demanding terms of its inputs;
// `split` duplicates a series for two consumers that read at different rates, with a chain of
// generations handing over through release channels. Go's main checks: Ones, Add, Diff, Integ,
// Cmul, Sub, Mul, Exp and the arctangent series Integ(MonSubst(Ones, -1, 2)).
//
// A reduced but faithful port: the operators those checks use keep Go's structure, including
// dosplit's generations, the four-way select of getn and the nil-channel trick that disables a
// case. Left out, as Go's main never checks them: the printing and evaluation helpers, Monmul,
// Xmul, Mon, Shift, Binom, Recip and Subst. Go's global sequence number is an atomic here (in Go
// it is a data race that no check depends on). The goroutines are endless, as in Go; they run
// under a gopp_test::pipeline, which stops them all at the end.
#include "test_support.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

namespace {

using gopp::chan;
using gopp::recv_case;
using gopp::send_case;
using namespace gopp_test;

// ---- Rationals

struct rat {
  std::int64_t num = 0, den = 0;
  bool operator==(const rat&) const = default;
};

[[maybe_unused]] void PrintTo(const rat& r, std::ostream* os) {
  if (r.den == 1) {
    *os << r.num;
  } else {
    *os << r.num << "/" << r.den;
  }
}

std::int64_t gcd(std::int64_t u, std::int64_t v) {
  if (u < 0) return gcd(-u, v);
  if (u == 0) return v;
  return gcd(v % u, u);
}

rat i2tor(std::int64_t u, std::int64_t v) {
  std::int64_t g = gcd(u, v);
  if (v > 0) return {u / g, v / g};
  return {-u / g, -v / g};
}
rat itor(std::int64_t u) {
  return i2tor(u, 1);
}

const rat zero = itor(0);
const rat one = itor(1);
const rat finis = i2tor(1, 0);  // the end mark

bool end(const rat& u) {
  return u.den == 0;
}

rat add(const rat& u, const rat& v) {
  std::int64_t g = gcd(u.den, v.den);
  return i2tor(u.num * (v.den / g) + v.num * (u.den / g), u.den * (v.den / g));
}
rat mul(const rat& u, const rat& v) {
  std::int64_t g1 = gcd(u.num, v.den);
  std::int64_t g2 = gcd(u.den, v.num);
  return {(u.num / g1) * (v.num / g2), (u.den / g2) * (v.den / g1)};
}
rat neg(const rat& u) {
  return i2tor(-u.num, u.den);
}

// ---- Demand channels

// A power series: a pair of channels. Copies share the channels, as Go's *dch pointers do.
struct dch {
  chan<int> req;
  chan<rat> dat;
};
using PS = dch;
// A pair of series that split() swaps in place: shared, as Go's *dch2.
using dch2 = std::shared_ptr<std::array<dch, 2>>;

// The network's goroutines and channel operations all go through this pipeline.
const pipeline* q = nullptr;
std::atomic<int> seqno{0};

PS mkPS() {
  return dch{chan<int>(), chan<rat>()};
}
dch2 mkPS2() {
  return std::make_shared<std::array<dch, 2>>(std::array<dch, 2>{mkPS(), mkPS()});
}

// split reads one demand channel and replicates its output onto two, which may be read at
// different rates. A generation is created at the first demand for a value and dies after the
// value went to both outputs. The newest generation serves out[0]; older generations hold values
// already sent on out[0] and wait to send them on out[1]; when one finishes it releases the next
// newer one (through `wait`) to serve out[1].
void dosplit(PS in, dch2 out, chan<int> wait) {
  bool both = false;  // whether this generation serves both outputs
  std::size_t chosen =
      gopp::select(recv_case((*out)[0].req), recv_case(wait), recv_case(q->quit()));
  if (chosen == 2) throw pipeline::stopped{};
  if (chosen == 1) {
    both = true;
    chosen = gopp::select(recv_case((*out)[0].req), recv_case((*out)[1].req), recv_case(q->quit()));
    if (chosen == 2) throw pipeline::stopped{};
    if (chosen == 1) std::swap((*out)[0], (*out)[1]);
  }
  q->send(in.req, ++seqno);
  chan<int> release;
  q->go(dosplit, in, out, release);
  rat dat = q->recv(in.dat).value();
  q->send((*out)[0].dat, dat);
  if (!both) (void)q->recv(wait);
  (void)q->recv((*out)[1].req);
  q->send((*out)[1].dat, dat);
  q->send(release, 0);
}

void split(PS in, dch2 out) {
  chan<int> release;
  q->go(dosplit, in, out, release);
  q->send(release, 0);
}

void put(rat dat, PS out) {
  (void)q->recv(out.req);
  q->send(out.dat, dat);
}

rat get(PS in) {
  q->send(in.req, ++seqno);
  return q->recv(in.dat).value();
}

// One value from each of two series, requests and replies in whatever order they can happen:
// a served request disables its case (nil channel) and enables the matching reply.
std::array<rat, 2> get2(PS in0, PS in1) {
  std::array<chan<int>, 2> req = {in0.req, in1.req};
  std::array<chan<rat>, 2> dat = {chan<rat>(nullptr), chan<rat>(nullptr)};
  std::array<rat, 2> out{};
  for (int n = 4; n > 0; --n) {
    int s = ++seqno;
    std::size_t chosen = gopp::select(send_case(req[0], s,
                                                [&] {
                                                  dat[0] = in0.dat;
                                                  req[0] = chan<int>(nullptr);
                                                }),
                                      send_case(req[1], s,
                                                [&] {
                                                  dat[1] = in1.dat;
                                                  req[1] = chan<int>(nullptr);
                                                }),
                                      recv_case(dat[0],
                                                [&](std::optional<rat> it) {
                                                  out[0] = it.value();
                                                  dat[0] = chan<rat>(nullptr);
                                                }),
                                      recv_case(dat[1],
                                                [&](std::optional<rat> it) {
                                                  out[1] = it.value();
                                                  dat[1] = chan<rat>(nullptr);
                                                }),
                                      recv_case(q->quit()));
    if (chosen == 4) throw pipeline::stopped{};
  }
  return out;
}

void copy(PS in, PS out) {
  for (;;) {
    (void)q->recv(out.req);
    q->send(out.dat, get(in));
  }
}

void repeat(rat dat, PS out) {
  for (;;) put(dat, out);
}

// ---- Power series operators

// Two series made from one.
dch2 Split(PS U) {
  dch2 UU = mkPS2();
  q->go(split, U, UU);
  return UU;
}

PS Add(PS U, PS V) {
  PS Z = mkPS();
  q->go([U, V, Z] {
    for (;;) {
      (void)q->recv(Z.req);
      auto uv = get2(U, V);
      switch (int(end(uv[0])) + 2 * int(end(uv[1]))) {
        case 0:
          q->send(Z.dat, add(uv[0], uv[1]));
          break;
        case 1:
          q->send(Z.dat, uv[1]);
          copy(V, Z);
          break;
        case 2:
          q->send(Z.dat, uv[0]);
          copy(U, Z);
          break;
        case 3:
          q->send(Z.dat, finis);
          break;
      }
    }
  });
  return Z;
}

// c times U.
PS Cmul(rat c, PS U) {
  PS Z = mkPS();
  q->go([c, U, Z] {
    bool done = false;
    while (!done) {
      (void)q->recv(Z.req);
      rat u = get(U);
      if (end(u)) {
        done = true;
      } else {
        q->send(Z.dat, mul(c, u));
      }
    }
    q->send(Z.dat, finis);
  });
  return Z;
}

PS Sub(PS U, PS V) {
  return Add(U, Cmul(neg(one), V));
}

// c, c, c, ...
PS Rep(rat c) {
  PS Z = mkPS();
  q->go(repeat, c, Z);
  return Z;
}

// U*V:  let U = u + x*UU and V = v + x*VV; then UV = u*v + x*(u*VV + v*UU) + x*x*UU*VV.
PS Mul(PS U, PS V) {
  PS Z = mkPS();
  q->go([U, V, Z] {
    (void)q->recv(Z.req);
    auto uv = get2(U, V);
    if (end(uv[0]) || end(uv[1])) {
      q->send(Z.dat, finis);
    } else {
      q->send(Z.dat, mul(uv[0], uv[1]));
      dch2 UU = Split(U);
      dch2 VV = Split(V);
      PS W = Add(Cmul(uv[0], (*VV)[0]), Cmul(uv[1], (*UU)[0]));
      (void)q->recv(Z.req);
      q->send(Z.dat, get(W));
      copy(Add(W, Mul((*UU)[1], (*VV)[1])), Z);
    }
  });
  return Z;
}

// The derivative.
PS Diff(PS U) {
  PS Z = mkPS();
  q->go([U, Z] {
    (void)q->recv(Z.req);
    rat u = get(U);
    if (!end(u)) {
      bool done = false;
      for (std::int64_t i = 1; !done; ++i) {
        u = get(U);
        if (end(u)) {
          done = true;
        } else {
          q->send(Z.dat, mul(itor(i), u));
          (void)q->recv(Z.req);
        }
      }
    }
    q->send(Z.dat, finis);
  });
  return Z;
}

// The integral, with constant of integration c.
PS Integ(rat c, PS U) {
  PS Z = mkPS();
  q->go([c, U, Z] {
    put(c, Z);
    bool done = false;
    for (std::int64_t i = 1; !done; ++i) {
      (void)q->recv(Z.req);
      rat u = get(U);
      if (end(u)) done = true;
      q->send(Z.dat, mul(i2tor(1, i), u));
    }
    q->send(Z.dat, finis);
  });
  return Z;
}

// exp(U) for U with constant term 0 (the constant term is ignored, as in Go):
// Z = exp(U), DZ = Z*DU, so Z = integral of Z*DU with constant 1.
PS Exp(PS U) {
  dch2 ZZ = mkPS2();
  split(Integ(one, Mul((*ZZ)[0], Diff(U))), ZZ);
  return (*ZZ)[1];
}

// U(c0 * x^n): coefficient i is multiplied by c0^i and followed by n-1 zeros.
PS MonSubst(PS U, rat c0, int n) {
  PS Z = mkPS();
  q->go([U, c0, n, Z] {
    rat c = one;
    for (;;) {
      (void)q->recv(Z.req);
      rat u = get(U);
      q->send(Z.dat, mul(u, c));
      c = mul(c, c0);
      if (end(u)) {
        q->send(Z.dat, finis);
        break;
      }
      for (int i = 1; i < n; ++i) {
        (void)q->recv(Z.req);
        q->send(Z.dat, zero);
      }
    }
  });
  return Z;
}

// ---- The checks of Go's main

constexpr int N = 10;

void check(PS U, rat c, int count, const char* what) {
  for (int i = 0; i < count; ++i) {
    rat r = get(U);
    EXPECT_EQ(r, c) << what << ", term " << i;
  }
}

void checka(PS U, const std::vector<rat>& a, const char* what) {
  for (int i = 0; i < N; ++i) check(U, a[static_cast<std::size_t>(i)], 1, what);
}

void powser1_main() {
  const std::size_t idle = gopp::num_goroutines();
  pipeline p;
  q = &p;
  seqno = 0;
  PS Ones = Rep(one);
  PS Twos = Rep(itor(2));

  check(Ones, one, 5, "Ones");
  check(Add(Ones, Ones), itor(2), 0, "Add Ones Ones");  // 2 2 2 2 2
  check(Add(Ones, Twos), itor(3), 0, "Add Ones Twos");  // 3 3 3 3 3

  std::vector<rat> a(N);
  PS d = Diff(Ones);
  for (int i = 0; i < N; ++i) a[i] = itor(i + 1);
  checka(d, a, "Diff");  // 1 2 3 4 5

  PS in = Integ(zero, Ones);
  a[0] = zero;  // the constant of integration
  for (int i = 1; i < N; ++i) a[i] = i2tor(1, i);
  checka(in, a, "Integ");  // 0 1 1/2 1/3 1/4 1/5

  check(Cmul(neg(one), Twos), itor(-2), 10, "CMul");     // -2 -2 -2 -2 -2
  check(Sub(Ones, Twos), itor(-1), 0, "Sub Ones Twos");  // -1 -1 -1 -1 -1

  PS m = Mul(Ones, Ones);
  for (int i = 0; i < N; ++i) a[i] = itor(i + 1);
  checka(m, a, "Mul");  // 1 2 3 4 5

  PS e = Exp(Ones);
  a[0] = itor(1);
  a[1] = itor(1);
  a[2] = i2tor(3, 2);
  a[3] = i2tor(13, 6);
  a[4] = i2tor(73, 24);
  a[5] = i2tor(167, 40);
  a[6] = i2tor(4051, 720);
  a[7] = i2tor(37633, 5040);
  a[8] = i2tor(43817, 4480);
  a[9] = i2tor(4596553, 362880);
  checka(e, a, "Exp");  // 1 1 3/2 13/6 73/24

  PS at = Integ(zero, MonSubst(Ones, neg(one), 2));
  for (int c = 1, i = 0; i < N; ++i) {
    if (i % 2 == 0) {
      a[i] = zero;
    } else {
      a[i] = i2tor(c, i);
      c *= -1;
    }
  }
  checka(at, a, "ATan");  // 0 1 0 -1/3 0 1/5

  // The network's goroutines use `q` until they have returned: wait for them before p goes.
  p.stop();
  EXPECT_TRUE(eventually([&] { return gopp::num_goroutines() <= idle; }));
}

class Powser1 : public sides {};

TEST_P(Powser1, GoMainChecks) {
  start(GetParam(), powser1_main).join();
}

GOPP_INSTANTIATE_SIDES(Powser1);

}  // namespace
