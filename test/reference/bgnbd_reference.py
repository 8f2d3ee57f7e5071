#!/usr/bin/env python3
"""Independent reference values for sql/analytics_cdnow.sql: BG/NBD P(alive)
and conditional expected purchases, by brute-force numerical integration.

The extension computes them in closed form (P(alive)) and through a
transformed Gauss hypergeometric series (src/bgnbd.c).  Here nothing of that
is used: the posterior of a customer's (lambda, p) is integrated numerically
in two dimensions, straight from the model's definition (Fader, Hardie &
Lee 2005, section 2):

  lambda ~ Gamma(r, alpha), p ~ Beta(a, b);
  L(x, t_x, T | lambda, p) = (1-p)^x lambda^x e^(-lambda T)               [alive at T]
                           + [x > 0] p (1-p)^(x-1) lambda^x e^(-lambda t_x)  [died at t_x]
  P(alive)     = E[alive term] / E[L]
  E[Y(h) | .]  = E[alive term * (1 - e^(-lambda p h)) / p] / E[L]

with E over the prior.  Both integrals use the double-exponential
(tanh-sinh / exp-sinh) rule, written out below, in plain Python (no external
libraries).  Run: python3 test/reference/bgnbd_reference.py
"""
import math

R, ALPHA, A, B = 0.243, 4.414, 0.793, 2.426   # FHL 2005, published estimates


def de_nodes_unit(h, kmax):
    """tanh-sinh nodes on (0, 1): (log p, log(1-p), weight)."""
    out = []
    for k in range(-kmax, kmax + 1):
        w = k * h
        v = math.pi / 2 * math.sinh(w)
        # p = 1 / (1 + e^(-2v)), computed in logs to keep the endpoints
        logp = -math.log1p(math.exp(-2 * v)) if v > -350 else 2 * v
        log1mp = -math.log1p(math.exp(2 * v)) if v < 350 else -2 * v
        dp = math.pi * math.cosh(w) * math.exp(logp + log1mp)   # dp/dw
        out.append((logp, log1mp, dp * h))
    return out


def de_nodes_half_line(h, kmax):
    """exp-sinh nodes on (0, inf): (log lambda, weight)."""
    out = []
    for k in range(-kmax, kmax + 1):
        w = k * h
        s = math.pi / 2 * math.sinh(w)
        if abs(s) > 700:
            continue
        lam = math.exp(s)
        out.append((s, lam * math.pi / 2 * math.cosh(w) * h))
    return out


def posterior_moments(x, tx, T, horizon, h=0.02, kmax=250):
    lp_nodes = de_nodes_unit(h, kmax)
    ll_nodes = de_nodes_half_line(h, kmax)
    log_gamma_norm = R * math.log(ALPHA) - math.lgamma(R)
    log_beta_norm = -(math.lgamma(A) + math.lgamma(B) - math.lgamma(A + B))
    total = alive = expect = 0.0
    for loglam, wl in ll_nodes:
        lam = math.exp(loglam)
        prior_l = math.exp(log_gamma_norm + (R - 1) * loglam - ALPHA * lam)
        if prior_l == 0.0:
            continue
        for logp, log1mp, wp in lp_nodes:
            p = math.exp(logp)
            prior_p = math.exp(log_beta_norm + (A - 1) * logp + (B - 1) * log1mp)
            if prior_p == 0.0:
                continue
            t_alive = math.exp(x * log1mp + x * loglam - lam * T)
            t_dead = math.exp(logp + (x - 1) * log1mp + x * loglam - lam * tx) if x > 0 else 0.0
            weight = prior_l * prior_p * wl * wp
            total += weight * (t_alive + t_dead)
            alive += weight * t_alive
            # (1 - e^(-lambda p h)) / p, which is lambda h at p = 0
            grow = -math.expm1(-lam * p * horizon) / p if p > 0 else lam * horizon
            expect += weight * t_alive * grow
    return alive / total, expect / total


if __name__ == "__main__":
    # CDNOW sample customers (ID: x, t_x, T in weeks from CDNOW_sample.txt,
    # calibration ending 1997-09-30), horizon 39 weeks (the hold-out)
    customers = [
        (1, 2, 213 / 7, 272 / 7),
        (2, 1, 12 / 7, 272 / 7),
        (3, 0, 0.0, 272 / 7),
        (157, 29, 264 / 7, 266 / 7),
        (1042, 3, 126 / 7, 233 / 7),
        (1901, 21, 33 / 7, 205 / 7),
    ]
    for cid, x, tx, T in customers:
        pa, e = posterior_moments(x, tx, T, 39.0)
        print("%5d x=%d t_x=%.6f T=%.6f  P(alive)=%.12g  E[Y(39)]=%.12g" % (cid, x, tx, T, pa, e))
