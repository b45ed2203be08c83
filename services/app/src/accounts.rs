//! Creating a customer's users: a person is named by their email, so one email belongs to one
//! live user of the tenant.

use fleet_domain::user::{User, UserCommand};
use fleet_projections::inventory::{users, NAME as INVENTORY};
use uuid::Uuid;

use crate::command_bus::{CommandMeta, Executed};
use crate::{policies, App, AppError};

/// A new user of the customer `customer_id` (which must exist and not be deleted: an
/// unknown customer is not found).
pub async fn create_user(
    app: &App,
    meta: &CommandMeta,
    customer_id: &str,
    email: String,
    name: String,
    role: String,
) -> Result<Executed<User>, AppError> {
    let customer = policies::active_customer(app, &meta.tenant, "customer_id", customer_id)
        .await
        .map_err(|e| match e {
            AppError::Unprocessable { .. } => {
                AppError::NotFound(format!("customer {customer_id} not found"))
            }
            other => other,
        })?;
    app.caught_up_on(&meta.tenant, fleet_events::user::AGGREGATE_TYPE, INVENTORY)
        .await?;
    if let Some(existing) =
        users::live_user_with_email(&app.pool, meta.tenant.as_str(), &email).await?
    {
        return Err(AppError::Conflict {
            detail: format!("user {existing} already has the email {email}"),
            current_state: None,
        });
    }
    let command = UserCommand::Create {
        customer_id: customer.to_string(),
        email,
        name,
        role,
    };
    Ok(app
        .bus
        .execute_on_new::<User>(meta, &Uuid::now_v7().to_string(), command)
        .await?)
}
