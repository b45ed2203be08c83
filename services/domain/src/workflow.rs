//! The workflow aggregate: the run of one long instance operation on the infrastructure.
//!
//! ```text
//! start ─► in_progress ──last step done──► completed
//!            │  ▲  │
//!     pause  │  │  └─step failed─► failed ──retry──► in_progress
//!            ▼  │ resume
//!           paused
//! terminate: in_progress, paused or failed ─► terminated
//! ```
//! Steps are reported by the agent that runs them, in order, while the workflow is in
//! progress. A failed step leaves the instance in the state the plan names (`on_failure`).

pub use fleet_events::workflow::{WorkflowEvent, WorkflowPlan};

use crate::{validate, Aggregate, DomainError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkflowStatus {
    #[default]
    InProgress,
    Paused,
    Completed,
    Failed,
    Terminated,
}

impl WorkflowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Terminated => "terminated",
        }
    }
}

/// The steps each kind of operation runs, and the instance state it brings about.
pub fn plan_of(kind: &str) -> Option<(&'static [&'static str], &'static str)> {
    const DEPLOY: &[&str] = &[
        "infrastructure",
        "network",
        "compute",
        "storage",
        "configuration",
        "monitoring",
    ];
    Some(match kind {
        "deploy" | "restore" | "adopt" => (DEPLOY, "running"),
        "stop" => (&["compute"], "stopped"),
        "start" => (&["compute", "configuration"], "running"),
        "restart" => (&["compute"], "running"),
        "failover" => (&["compute", "configuration"], "running"),
        "capacity" => (&["compute", "storage", "configuration"], "running"),
        "update" => (&["configuration"], "running"),
        "upgrade" => (&["configuration", "compute", "monitoring"], "running"),
        "delete" => (
            &["compute", "storage", "network", "infrastructure"],
            "deleted",
        ),
        _ => return None,
    })
}

#[derive(Debug, Clone)]
pub enum WorkflowCommand {
    Start(Box<WorkflowPlan>),
    CompleteStep {
        step: String,
        message: Option<String>,
    },
    FailStep {
        step: String,
        reason: String,
    },
    /// Every remaining step is done (the agent reported the operation's end as a whole).
    CompleteAll,
    Pause,
    Resume,
    Retry,
    Terminate {
        reason: String,
        by: String,
    },
}

impl WorkflowCommand {
    fn action(&self) -> &'static str {
        match self {
            Self::Start(_) => "start",
            Self::CompleteStep { .. } | Self::CompleteAll => "complete a step of",
            Self::FailStep { .. } => "fail a step of",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Retry => "retry",
            Self::Terminate { .. } => "terminate",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workflow {
    pub plan: Option<WorkflowPlan>,
    pub status: WorkflowStatus,
    /// How many steps are done.
    pub done: usize,
    pub failed_step: Option<String>,
}

impl Workflow {
    /// The step running now, if any is left.
    pub fn current_step(&self) -> Option<&str> {
        self.plan
            .as_ref()
            .and_then(|p| p.steps.get(self.done))
            .map(String::as_str)
    }

    fn refuse(&self, command: &WorkflowCommand) -> DomainError {
        DomainError::InvalidState {
            aggregate: Self::TYPE,
            action: command.action(),
            state: self.status.as_str().into(),
        }
    }

    fn check_step(&self, step: &str) -> Result<(), DomainError> {
        match self.current_step() {
            Some(current) if current == step => Ok(()),
            Some(current) => Err(DomainError::invalid(
                "step",
                format!("the step running is {current}, not {step}"),
            )),
            None => Err(DomainError::invalid("step", "no step is left")),
        }
    }
}

impl Aggregate for Workflow {
    const TYPE: &'static str = fleet_events::workflow::AGGREGATE_TYPE;
    type Command = WorkflowCommand;
    type Event = WorkflowEvent;

    fn decide(&self, command: &WorkflowCommand) -> Result<WorkflowEvent, DomainError> {
        use WorkflowCommand as C;
        use WorkflowStatus as S;
        if let C::Start(plan) = command {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            if plan.steps.is_empty() {
                return Err(DomainError::invalid("steps", "a workflow has steps"));
            }
            return Ok(WorkflowEvent::WorkflowStarted {
                plan: (**plan).clone(),
            });
        }
        let Some(plan) = &self.plan else {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        };
        Ok(match (command, self.status) {
            (C::CompleteStep { step, message }, S::InProgress) => {
                self.check_step(step)?;
                WorkflowEvent::WorkflowStepCompleted {
                    step: step.clone(),
                    message: message.clone(),
                    completed: self.done + 1 == plan.steps.len(),
                }
            }
            (C::CompleteAll, S::InProgress) => {
                let step = self.current_step().unwrap_or_default().to_owned();
                WorkflowEvent::WorkflowStepCompleted {
                    step,
                    message: Some("the operation was reported done as a whole".into()),
                    completed: true,
                }
            }
            (C::FailStep { step, reason }, S::InProgress) => {
                self.check_step(step)?;
                validate::required("reason", reason, 2000)?;
                WorkflowEvent::WorkflowStepFailed {
                    step: step.clone(),
                    reason: reason.clone(),
                }
            }
            (C::Pause, S::InProgress) => WorkflowEvent::WorkflowPaused {},
            (C::Resume, S::Paused) => WorkflowEvent::WorkflowResumed {},
            (C::Retry, S::Failed) => WorkflowEvent::WorkflowRetried {
                step: self.failed_step.clone().unwrap_or_default(),
            },
            (C::Terminate { reason, by }, S::InProgress | S::Paused | S::Failed) => {
                validate::required("reason", reason, 2000)?;
                WorkflowEvent::WorkflowTerminated {
                    reason: reason.clone(),
                    by: by.clone(),
                }
            }
            _ => return Err(self.refuse(command)),
        })
    }

    fn evolve(&mut self, event: &WorkflowEvent) {
        use WorkflowEvent as E;
        match event {
            E::WorkflowStarted { plan } => {
                self.plan = Some(plan.clone());
                self.status = WorkflowStatus::InProgress;
            }
            E::WorkflowStepCompleted { completed, .. } => {
                if *completed {
                    self.done = self.plan.as_ref().map_or(0, |p| p.steps.len());
                    self.status = WorkflowStatus::Completed;
                } else {
                    self.done += 1;
                }
            }
            E::WorkflowStepFailed { step, .. } => {
                self.failed_step = Some(step.clone());
                self.status = WorkflowStatus::Failed;
            }
            E::WorkflowPaused {} => self.status = WorkflowStatus::Paused,
            E::WorkflowResumed {} | E::WorkflowRetried { .. } => {
                self.failed_step = None;
                self.status = WorkflowStatus::InProgress;
            }
            E::WorkflowTerminated { .. } => self.status = WorkflowStatus::Terminated,
        }
    }

    fn exists(&self) -> bool {
        self.plan.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkflowCommand as C;

    fn start(kind: &str) -> C {
        let (steps, target) = plan_of(kind).unwrap();
        C::Start(Box::new(WorkflowPlan {
            instance_id: "i-1".into(),
            kind: kind.into(),
            service_id: "s".into(),
            plan_id: "p".into(),
            cloud_provider: "aws".into(),
            region: "us-east-1".into(),
            deployment_cell: "hc-1".into(),
            environment_type: "PROD".into(),
            steps: steps.iter().map(|s| (*s).to_owned()).collect(),
            on_failure: "failed".into(),
            target_status: target.into(),
            upgrade_path_id: None,
            target_version: None,
        }))
    }

    fn step(name: &str) -> C {
        C::CompleteStep {
            step: name.into(),
            message: None,
        }
    }

    fn fail(name: &str) -> C {
        C::FailStep {
            step: name.into(),
            reason: "quota".into(),
        }
    }

    fn terminate() -> C {
        C::Terminate {
            reason: "asked".into(),
            by: "ops".into(),
        }
    }

    fn run(commands: &[C]) -> (Workflow, Result<WorkflowEvent, DomainError>) {
        crate::run_commands::<Workflow>(commands)
    }

    #[test]
    fn steps_complete_in_order_and_the_last_completes_the_workflow() {
        let (state, last) = run(&[start("start"), step("compute"), step("configuration")]);
        assert_eq!(
            last.unwrap(),
            WorkflowEvent::WorkflowStepCompleted {
                step: "configuration".into(),
                message: None,
                completed: true
            }
        );
        assert_eq!(state.status, WorkflowStatus::Completed);
        let (_, last) = run(&[start("start"), step("configuration")]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "step", .. })
        ));
    }

    #[test]
    fn a_failed_step_can_be_retried_from_where_it_failed() {
        let (state, last) = run(&[
            start("start"),
            step("compute"),
            fail("configuration"),
            C::Retry,
            step("configuration"),
        ]);
        assert!(last.is_ok());
        assert_eq!(state.status, WorkflowStatus::Completed);
    }

    #[test]
    fn every_illegal_transition_names_the_state() {
        let cases: Vec<(Vec<C>, &str)> = vec![
            (vec![start("stop"), C::Resume], "in_progress"),
            (vec![start("stop"), C::Retry], "in_progress"),
            (vec![start("stop"), C::Pause, C::Pause], "paused"),
            (vec![start("stop"), C::Pause, step("compute")], "paused"),
            (vec![start("stop"), C::Pause, fail("compute")], "paused"),
            (vec![start("stop"), C::Pause, C::Retry], "paused"),
            (vec![start("stop"), step("compute"), C::Pause], "completed"),
            (vec![start("stop"), step("compute"), C::Resume], "completed"),
            (vec![start("stop"), step("compute"), C::Retry], "completed"),
            (
                vec![start("stop"), step("compute"), terminate()],
                "completed",
            ),
            (vec![start("stop"), fail("compute"), C::Pause], "failed"),
            (vec![start("stop"), fail("compute"), C::Resume], "failed"),
            (
                vec![start("stop"), fail("compute"), step("compute")],
                "failed",
            ),
            (vec![start("stop"), terminate(), C::Resume], "terminated"),
            (vec![start("stop"), terminate(), C::Retry], "terminated"),
            (vec![start("stop"), terminate(), terminate()], "terminated"),
            (
                vec![start("stop"), terminate(), step("compute")],
                "terminated",
            ),
        ];
        for (commands, state) in cases {
            match run(&commands).1 {
                Err(DomainError::InvalidState { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{commands:?}: expected InvalidState({state}), got {other:?}"),
            }
        }
    }

    #[test]
    fn pause_resume_and_terminate() {
        let (state, last) = run(&[start("deploy"), C::Pause, C::Resume, step("infrastructure")]);
        assert!(last.is_ok());
        assert_eq!(state.done, 1);
        let (state, _) = run(&[start("deploy"), fail("infrastructure"), terminate()]);
        assert_eq!(state.status, WorkflowStatus::Terminated);
        let (_, last) = run(&[step("compute")]);
        assert!(matches!(last, Err(DomainError::NotFound { .. })));
    }
}
