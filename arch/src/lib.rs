//! `lineage-arch`: the architecture language lineage's actors write, check, repair and train.
//!
//! A program describes one token mixer — projections, activations, norms, short causal
//! convolutions, gates, multi-head recurrent state updates (`recur`: decay, delta-rule erase,
//! outer-product write), softmax attention, learned routing between paths — and the block around
//! it (norm, MLP). The pipeline: [`lang::parse`] text into a [`lang::Program`], [`lang::check()`]
//! it at concrete sizes into a typed [`lang::Graph`], print it back ([`lang::print`]), hash its
//! canonical form ([`lang::program_hash`]) and [`lang::diff()`] two programs. [`baselines`] are
//! the seed architectures, each a short program.
//!
//! The key design decision: a program is data — named bindings of tensor operations from a
//! fixed set — never code. It can express non-causal and quadratic programs (so the checks have
//! something real to catch) but can never run anything on the host but tensor operations.
//!
//! **Architecture invariant**: this crate never sees an event type.

#![warn(missing_docs)]

pub mod backend;
pub mod baselines;
pub mod checks;
pub mod cost;
pub mod export;
pub mod hot_pool;
pub mod lang;
pub mod limits;
pub mod model;
pub mod rng;
pub mod tasks;
pub mod train;
