"""Tests that run on memory:// and Redis but not on PostgreSQL.

``tests/conftest.py`` deselects their ``postgres`` parametrization (every other test that takes
``broker_url`` runs on PostgreSQL too, on asyncio and trio); the header of every run says how
many are left. An entry is ``path::test_name`` or a whole module ``path``.

- ``REDIS_ONLY``: tests of the Redis storage itself; they stay Redis-only.
- ``PENDING``: the driver's to-do list, with what failed when the list was made (a run of
  ``pytest tests -m postgres`` on the merged driver). ``QUEUE_CORE_RUN_PENDING=1`` runs them
  anyway; remove an entry once its test passes.
"""

from __future__ import annotations

REDIS_ONLY: dict[str, str] = {
    "tests/test_damage.py": "writes malformed Redis records through the Redis driver's transport and keys",
    "tests/test_storage_layout.py": "the Redis layout-version key (PostgreSQL: tests/test_cli_db.py)",
    "tests/test_manager.py::test_the_memory_estimate_follows_what_the_queue_really_uses": "Redis MEMORY USAGE",
    "tests/test_manager.py::test_server_info_reports_what_the_server_says": "asserts the Redis/fakeredis server report",
}

LEAK = "ResourceWarning: the listener's psycopg.Connection is deleted while open (queue_postgres/listen.py)"
WAKE = "timed out waiting for a wake-up (pickup falls back to the 10 s poll)"
OPEN = "failed at merge; not yet diagnosed"

PENDING: dict[str, str] = {
    "tests/test_aggregation.py::test_an_aggregator_beside_a_worker_feeds_it_the_aggregates": OPEN,
    "tests/test_cancellation.py::test_a_cancel_notice_stops_the_handler_at_once": LEAK,
    "tests/test_cancellation.py::test_a_cancelled_job_run_again_by_an_operator_is_not_cancelled_again": OPEN,
    "tests/test_cancellation.py::test_a_notice_for_a_job_of_the_same_id_in_another_queue_cancels_nothing_here": OPEN,
    "tests/test_cancellation.py::test_cancelling_a_job_that_is_not_running_archives_it_and_no_worker_runs_it": OPEN,
    "tests/test_failure_reports.py::test_a_failed_attempt_logs_one_line_and_stores_its_traceback": OPEN,
    "tests/test_failure_reports.py::test_a_result_nested_too_deeply_is_archived_at_once": LEAK,
    "tests/test_failure_reports.py::test_a_stored_traceback_is_bounded": LEAK,
    "tests/test_failure_reports.py::test_write_result_nested_too_deeply_fails_the_attempt": LEAK,
    "tests/test_handlers.py::test_a_handler_bound_to_a_queue_does_not_take_the_type_from_another_queue": OPEN,
    "tests/test_handlers.py::test_a_newer_worker_in_a_rolling_deploy_runs_a_job_the_old_one_put_back": OPEN,
    "tests/test_handlers.py::test_a_plain_handler_writes_its_result_through_the_blocking_call": OPEN,
    "tests/test_handlers.py::test_an_attempt_without_any_limit_gets_the_default_thirty_minutes": OPEN,
    "tests/test_handlers.py::test_an_unknown_type_goes_back_without_a_retry_then_is_archived_after_the_grace": OPEN,
    "tests/test_handlers.py::test_plain_handlers_run_on_at_most_threads_worker_threads": LEAK,
    "tests/test_handlers.py::test_progress_reaches_the_hook": LEAK,
    "tests/test_handlers.py::test_registering_after_run_started_is_rejected_with_a_clear_error": OPEN,
    "tests/test_metrics_api.py::test_a_collector_without_url_exports_what_the_app_refreshed_it_with": OPEN,
    "tests/test_metrics_api.py::test_a_metrics_route_renders_the_process_metrics_and_the_queues": OPEN,
    "tests/test_metrics_api.py::test_the_opentelemetry_metrics_count_what_the_worker_did": LEAK,
    "tests/test_metrics_history.py::test_a_worker_records_processed_failed_and_run_time_per_type_and_minute": OPEN,
    "tests/test_middleware.py::test_a_middleware_may_short_circuit_and_its_value_is_the_result": OPEN,
    "tests/test_middleware.py::test_a_middleware_may_time_the_attempt_on_the_workers_clock": OPEN,
    "tests/test_middleware.py::test_a_middleware_may_turn_an_error_into_another_outcome": LEAK,
    "tests/test_middleware.py::test_an_exception_in_a_middleware_is_a_recorded_failure": LEAK,
    "tests/test_middleware.py::test_middleware_cannot_be_added_once_the_worker_runs": LEAK,
    "tests/test_middleware.py::test_middleware_runs_around_a_plain_def_handler_too": LEAK,
    "tests/test_middleware.py::test_worker_then_group_then_handler_middleware_first_added_outermost": OPEN,
    "tests/test_observability.py::test_a_failure_is_logged_with_the_jobs_id_type_queue_and_attempt": OPEN,
    "tests/test_observability.py::test_an_error_handler_that_raises_is_logged_and_the_worker_carries_on": OPEN,
    "tests/test_observability.py::test_lifecycle_hooks_of_a_retried_then_archived_job": LEAK,
    "tests/test_observability.py::test_the_error_handler_hears_of_a_lost_lease": LEAK,
    "tests/test_observability.py::test_the_error_handler_sees_every_failure_kind_after_it_was_logged": OPEN,
    "tests/test_observability.py::test_the_heartbeat_publishes_worker_info_with_a_ttl_and_is_removed_on_stop": OPEN,
    "tests/test_plugin_hooks.py::test_lease_renewals_and_a_lost_lease_are_reported": LEAK,
    "tests/test_plugin_hooks.py::test_plugin_middleware_runs_outside_the_workers_own": LEAK,
    "tests/test_priorities.py::test_strict_priority_serves_a_lighter_queue_only_when_heavier_ones_are_empty": OPEN,
    "tests/test_priorities.py::test_weighted_queues_share_dequeues_by_their_weights": LEAK,
    "tests/test_priorities.py::test_without_strict_a_lighter_queue_gets_its_share_while_heavier_ones_have_work": OPEN,
    "tests/test_quarantine.py::test_a_job_on_its_last_chance_runs_alone": LEAK,
    "tests/test_quarantine.py::test_jobs_below_their_last_chance_run_side_by_side_at_once": OPEN,
    "tests/test_quarantine.py::test_jobs_running_when_a_recovered_job_arrives_finish_before_it_starts": OPEN,
    "tests/test_ratelimit.py::test_a_handler_limit_applies_to_its_type_only": LEAK,
    "tests/test_ratelimit.py::test_a_job_the_worker_limit_refuses_takes_no_token_from_the_handler_limit": OPEN,
    "tests/test_ratelimit.py::test_a_worker_limit_holds_back_what_exceeds_it_without_using_retries": OPEN,
    "tests/test_ratelimit.py::test_workers_sharing_a_key_together_respect_one_limit": LEAK,
    "tests/test_tasks.py::test_a_failure_raises_job_failed_with_the_stored_error": LEAK,
    "tests/test_tasks.py::test_a_result_that_does_not_fit_the_return_annotation_archives_the_job": OPEN,
    "tests/test_tasks.py::test_a_running_job_cancelled_by_an_operator_raises_job_cancelled": OPEN,
    "tests/test_tasks.py::test_client_wait_across_queues": LEAK,
    "tests/test_tasks.py::test_client_wait_returns_every_final_info_in_order": LEAK,
    "tests/test_tasks.py::test_enqueue_many_returns_a_job_per_call": WAKE,
    "tests/test_tasks.py::test_the_handler_receives_decoded_arguments_and_a_delivery_when_asked": OPEN,
    "tests/test_tasks.py::test_the_result_comes_back_typed": LEAK,
    "tests/test_tasks.py::test_the_string_api_still_runs_beside_tasks": LEAK,
    "tests/test_tasks.py::test_timedelta_timeouts_are_accepted": LEAK,
    "tests/test_timeouts.py::test_a_job_past_its_deadline_at_dequeue_is_archived_without_running": OPEN,
    "tests/test_timeouts.py::test_a_plain_handler_that_times_out_is_abandoned_and_the_attempt_fails": OPEN,
    "tests/test_timeouts.py::test_an_attempt_ends_at_its_earliest_limit_and_fails": LEAK,
    "tests/test_wakeup.py::test_a_busy_worker_still_forwards_when_due": LEAK,
    "tests/test_wakeup.py::test_a_job_scheduled_earlier_than_any_other_wakes_an_idle_worker_for_its_due_time": OPEN,
    "tests/test_wakeup.py::test_a_later_scheduled_job_does_not_wake_the_worker": LEAK,
    "tests/test_wakeup.py::test_an_idle_worker_makes_few_broker_calls_per_second_of_its_clock": OPEN,
    "tests/test_worker.py::test_a_failing_job_is_retried_at_the_policy_delay_then_succeeds": OPEN,
    "tests/test_worker.py::test_a_handler_exception_never_stops_the_worker": LEAK,
    "tests/test_worker.py::test_a_handler_raising_system_exit_re"
    "queues_the_other_jobs_leaves_its_own_to_its_lease_and_reraises": OPEN,
    "tests/test_worker.py::test_a_job_enqueued_just_after_an_empty_dequeue_is_not_left_waiting": OPEN,
    "tests/test_worker.py::test_a_job_is_archived_with_its_last_error_once_retries_are_exhausted": OPEN,
    "tests/test_worker.py::test_a_lost_lease_cancels_the_handler_and_its_writes_are_refused": OPEN,
    "tests/test_worker.py::test_a_plain_function_handler_runs_on_a_worker_thread": LEAK,
    "tests/test_worker.py::test_a_result_written_during_the_attempt_is_kept_when_the_handler_returns_none": OPEN,
    "tests/test_worker.py::test_a_retry_due_sooner_than_the_forwarder_looks_is_forwarded_on_time": OPEN,
    "tests/test_worker.py::test_a_returned_value_is_stored_as_the_result_when_the_job_has_retention": OPEN,
    "tests/test_worker.py::test_a_scheduled_job_runs_when_the_clock_reaches_it": LEAK,
    "tests/test_worker.py::test_a_transient_bounce_uses_no_retry_until_max_bounces": OPEN,
    "tests/test_worker.py::test_an_attempt_past_its_timeout_fails_and_is_retried": LEAK,
    "tests/test_worker.py::test_an_idle_worker_waits_for_work_instead_of_polling": LEAK,
    "tests/test_worker.py::test_an_operator_cancel_stops_the_handler_and_archives_the_job": OPEN,
    "tests/test_worker.py::test_an_unknown_job_type_is_archived_with_a_clear_reason": LEAK,
    "tests/test_worker.py::test_jobs_of_one_queue_are_processed_in_fifo_order": LEAK,
    "tests/test_worker.py::test_lifecycle_hooks_fire": LEAK,
    "tests/test_worker.py::test_max_retries_zero_archives_on_the_first_failure": LEAK,
    "tests/test_worker.py::test_one_dequeue_takes_as_many_jobs_as_there_are_free_slots": OPEN,
    "tests/test_worker.py::test_registering_after_run_started_is_rejected_and_a_worker_runs_once": OPEN,
    "tests/test_worker.py::test_revoke_deletes_the_job_and_counts_it_processed": LEAK,
    "tests/test_worker.py::test_running_jobs_keep_their_lease_while_the_clock_moves": LEAK,
    "tests/test_worker.py::test_shutdown_lets_running_handlers_finish_within_the_timeout": OPEN,
    "tests/test_worker.py::test_shutdown_requeues_an_unfinished_job_at_the_head_without_using_a_retry": OPEN,
    "tests/test_worker.py::test_skip_retry_archives_at_once_despite_retries_left": LEAK,
    "tests/test_worker.py::test_stop_ends_run_normally_and_new_jobs_are_not_fetched": LEAK,
    "tests/test_worker.py::test_the_delivery_describes_the_attempt": LEAK,
    "tests/test_worker.py::test_weighted_queues_are_all_served": LEAK,
    "tests/test_worker.py::test_without_a_clock_the_worker_judges_time_by_the_brokers_clock": OPEN,
    "tests/test_worker_aggregation.py::test_a_worker_with_an_agg"
    "regation_policy_turns_ready_groups_into_jobs_it_runs": OPEN,
    "tests/test_worker_aggregation.py::test_the_janitor_gives_an_expired_staging_set_back_to_its_group": OPEN,
    "tests/test_workflows.py::test_a_chain_and_a_fan_in_run_in_order_with_their_results": LEAK,
}

NOT_ON_POSTGRES: dict[str, str] = {**REDIS_ONLY, **PENDING}
