//! Live events on core NATS: `plog.events.<user_id>` ([`Names::events_subject`]).
//!
//! Not stored: an event reaches the relay instances subscribed at the moment it is published
//! (each holding `GET /v1/events` streams of that user) and is lost otherwise. Clients treat
//! events as hints and read the state itself (mailbox, volumes) after connecting.
//!
//! [`Names::events_subject`]: plog_ipc_schema::nats::Names::events_subject

use async_nats::Subscriber;
use plog_ipc_schema::http::events::Event;
use uuid::Uuid;

use super::{Broker, BrokerError};

impl Broker {
    /// Publishes `event` to `user_id`'s live event subject as adjacently tagged JSON
    /// (`{"kind":"new_mail","data":{"seq":7}}`), where the `GET /v1/events` streams of every
    /// relay instance pick it up.
    ///
    /// Best effort: nobody may be listening, and a lost event only delays a client until its
    /// next read. Callers log a failure and carry on.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] if the connection is down or the message cannot be handed
    /// to the client in time; [`BrokerError::Event`] if it cannot be encoded.
    pub async fn publish_event(&self, user_id: Uuid, event: &Event) -> Result<(), BrokerError> {
        let body = serde_json::to_vec(event)
            .map_err(|err| BrokerError::Event(format!("encoding: {err}")))?;
        let subject = self.names.events_subject(user_id);
        self.guarded(async {
            match tokio::time::timeout(self.timeout, self.client.publish(subject, body.into()))
                .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(err)) => Err(self.failed("publishing an event", &err)),
                Err(_) => Err(BrokerError::unavailable("publishing an event timed out")),
            }
        })
        .await
    }

    /// Subscribes to `user_id`'s live events. When this returns, the server has registered
    /// the subscription, so any event published afterwards through this server is delivered:
    /// a server handles one connection's operations in order, and a JetStream request sent
    /// after the `SUB` has been answered. (In a NATS cluster, interest reaches the other servers
    /// a moment later.)
    ///
    /// The subscription ends when the returned [`Subscriber`] is dropped. Its messages are the
    /// JSON bodies [`Broker::publish_event`] sends.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] if the connection is down or the server does not answer in
    /// time.
    pub async fn subscribe_events(&self, user_id: Uuid) -> Result<Subscriber, BrokerError> {
        let subject = self.names.events_subject(user_id);
        self.guarded(async {
            let subscriber =
                match tokio::time::timeout(self.timeout, self.client.subscribe(subject)).await {
                    Ok(Ok(subscriber)) => subscriber,
                    Ok(Err(err)) => return Err(self.failed("subscribing to events", &err)),
                    Err(_) => {
                        return Err(BrokerError::unavailable("subscribing to events timed out"));
                    }
                };
            // Any answer will do: it proves the server got past the SUB.
            let _: serde_json::Value = self
                .js
                .request("INFO", &())
                .await
                .map_err(|err| self.failed("subscribing to events", &err))?;
            Ok(subscriber)
        })
        .await
    }
}
