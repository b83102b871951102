//! The server's session states (RFC 2326 Appendix A.2): which method is valid in which state and
//! where it leads. Recording is not offered, so RECORD never leads anywhere.

use crate::rtsp::message::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Init,
    Ready,
    Playing,
}

/// The method is not valid in the session's state: answer 455 (RFC 2326 §11.3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotValidInState {
    pub method: Method,
    pub state: State,
}

impl std::fmt::Display for NotValidInState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not valid in state {:?}", self.method, self.state)
    }
}

impl std::error::Error for NotValidInState {}

/// The state after `method` succeeds in `state`. SETUP while playing (a transport change, which
/// RFC 2326 §10.4 lets a server refuse) is refused: a player must PAUSE first.
pub fn next_state(state: State, method: &Method) -> Result<State, NotValidInState> {
    use State::*;
    let next = match (state, method) {
        (_, Method::Teardown) => Init,
        (Init | Ready, Method::Setup) => Ready,
        (Ready | Playing, Method::Play) => Playing,
        (Playing, Method::Pause) => Ready,
        // Methods that leave the state alone.
        (s, Method::Options | Method::Describe | Method::GetParameter | Method::SetParameter) => s,
        _ => {
            return Err(NotValidInState {
                method: method.clone(),
                state,
            })
        }
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn appendix_a_transitions() {
        assert_eq!(next_state(Init, &Method::Setup), Ok(Ready));
        assert_eq!(next_state(Ready, &Method::Play), Ok(Playing));
        assert_eq!(
            next_state(Playing, &Method::Play),
            Ok(Playing),
            "PLAY while playing seeks"
        );
        assert_eq!(next_state(Playing, &Method::Pause), Ok(Ready));
        assert_eq!(next_state(Playing, &Method::Teardown), Ok(Init));
        assert_eq!(next_state(Ready, &Method::GetParameter), Ok(Ready));
        for (s, m) in [
            (Init, Method::Play),
            (Init, Method::Pause),
            (Ready, Method::Pause),
            (Playing, Method::Setup),
            (Ready, Method::Record),
        ] {
            assert!(next_state(s, &m).is_err(), "{m} in {s:?}");
        }
    }
}
