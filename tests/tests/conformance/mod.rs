//! The conformance kit: data-path rules of NDKPI checked through the dispatch tables on two
//! NICs of any [`Backend`], written once as generic functions and instantiated per backend
//! with [`suite!`]:
//!
//! ```ignore
//! mod conformance;
//! conformance::suite!(mock, ndk_tests::MockBackend);
//! ```
//!
//! makes one `#[test]` per rule, named `mock::<area>::<rule>`. Nothing here scripts the NIC
//! (no injected failures, held commands or fabricated completions): a test that needs that
//! stays with the mock's own tests. Waiting is the backend's business ([`Backend::pump`]):
//! a real NIC completes asynchronously, so every expectation of a completion or a callback
//! is preceded by a pump ([`Side::poll`], [`Side::wait_completions`], [`Node::wait_event`]).
//!
//! See `docs/conformance.md`.

pub mod access;
pub mod connection;
pub mod cq;
pub mod data_path;
pub mod impairments;
pub mod memory;
pub mod qp_requests;
pub mod srq;

use ndk_tests::{Backend, NetOptions};

/// A fresh network of backend `B` with a perfect wire.
pub fn net<B: Backend>() -> B::Net {
    B::network(&NetOptions::default())
}

/// Instantiates the whole conformance suite for a backend: `suite!(name, BackendType);`
/// makes a module `name` with one `#[test]` per rule.
macro_rules! suite {
    ($name:ident, $backend:ty) => {
        $crate::conformance::tests! { $name, $backend,
            data_path {
                send_write_and_read_move_bytes_between_two_adapters,
                an_ipv6_connection_carries_a_send_and_reports_ipv6_addresses,
            }
            connection {
                a_rejected_connect_is_refused_and_carries_the_rejecters_private_data,
                a_graceful_disconnect_is_heard_once_by_the_peer_and_flushes_receives_on_both_sides,
                closing_a_connected_connector_without_disconnect_is_heard_once_by_the_peer,
            }
            memory {
                build_lam_with_a_small_buffer_is_buffer_too_small_with_the_required_size,
                build_lam_fills_page_count_logical_addresses_and_first_byte_offset,
                build_lam_of_a_non_contiguous_mdl_chain_is_invalid_parameter,
                lam_addresses_with_the_privileged_token_move_bytes_in_send_and_receive,
                privileged_token_is_refused_for_remote_access,
                initialize_fast_register_on_a_normal_mr_is_invalid_parameter,
                register_mr_of_a_non_contiguous_mdl_chain_is_invalid_parameter,
                deregister_then_register_again_gives_new_tokens_and_the_old_remote_token_fails,
                bind_then_remote_access_through_the_window_token_moves_bytes_within_the_window,
                bind_outside_the_mr_range_is_invalid_parameter,
                bind_with_remote_write_over_an_mr_without_local_write_is_access_violation,
                invalidate_of_a_window_makes_its_token_fail_on_the_initiator_and_leaves_the_target_unchanged,
                invalidate_of_an_mr_registered_with_register_mr_is_invalid_parameter,
                fast_register_of_lam_pages_then_remote_read_through_its_token_and_invalidate,
                fast_register_with_remote_flags_on_an_mr_initialized_without_remote_access_is_access_violation,
                fast_register_with_a_bad_page_count_fbo_length_or_base_is_invalid_parameter,
                send_and_invalidate_reports_receive_and_invalidate_with_the_token_and_the_token_dies,
                receive_and_invalidate_is_also_retrievable_with_plain_get_cq_results,
                read_with_local_invalidate_invalidates_the_first_sge_token,
            }
            qp_requests {
                silent_success_produces_no_completion_on_success_but_one_on_failure,
                deferred_posts_ring_one_doorbell_with_the_next_normal_post,
                a_post_failing_validation_after_deferred_ones_rings_them_first,
                inline_send_copies_the_data_at_post_time_and_ignores_the_token,
                inline_data_larger_than_the_qp_inline_size_is_invalid_parameter,
                more_sges_than_the_qp_allows_is_invalid_parameter,
                a_flag_not_allowed_for_the_operation_is_invalid_parameter,
                after_an_error_completion_the_following_requests_complete_cancelled,
            }
            srq {
                a_creation_threshold_above_the_queued_receives_fires_at_once,
                threshold_notification_fires_exactly_once_as_a_peer_consumes_srq_receives,
            }
            access {
                a_never_allocated_token_is_refused_for_write_and_read,
                a_stale_token_of_a_deregistered_then_reregistered_mr_is_refused_for_read,
                a_range_ending_past_the_region_is_refused_for_write_and_read,
                a_range_starting_before_the_region_is_refused_for_write_and_read,
                a_write_without_the_remote_write_right_is_refused,
                a_read_without_the_remote_read_right_is_refused,
                an_mr_of_another_pd_than_the_target_qp_is_refused_for_write_and_read,
                an_invalidated_fast_register_token_is_refused_for_write_and_read,
                an_invalidated_window_token_is_refused_for_read,
            }
            impairments {
                one_percent_loss_duplication_and_reordering_deliver_every_byte_once_in_order,
                three_percent_loss_duplication_and_reordering_deliver_every_byte_once_in_order,
                five_percent_loss_duplication_and_reordering_deliver_every_byte_once_in_order,
            }
            cq {
                get_cq_results_returns_plain_results_up_to_the_count_asked,
                get_cq_results_ex_reports_zero_provider_error_code_on_success_and_the_status_on_error,
                solicited_arm_fires_for_a_solicited_send_and_not_for_an_unsolicited_one,
                an_error_completion_satisfies_a_solicited_arm,
            }
        }
    };
}

/// The expansion of [`suite!`]: `mod $name { mod $area { #[test] fn $rule() {..} } }`.
macro_rules! tests {
    ($name:ident, $backend:ty, $($area:ident { $($rule:ident),* $(,)? })*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                mod $area {
                    #[allow(unused_imports)]
                    use super::*;
                    $(
                        #[test]
                        fn $rule() {
                            $crate::conformance::$area::$rule::<$backend>();
                        }
                    )*
                }
            )*
        }
    };
}

#[allow(unused_imports)]
pub(crate) use {suite, tests};
