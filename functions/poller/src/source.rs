//! Where issuances come from: the Cert Spotter client in production, a scripted fake in unit
//! tests. The run only needs "pages after a cursor, within a budget".

use std::future::Future;

use ctguard::certspotter::{
    Budget, CertSpotterClient, FetchError, IssuancePage, IssuanceQuery, Pager,
};

pub trait IssuanceSource: Send + Sync {
    type Pager: IssuancePager + Send;

    /// Pages over the issuances after `after` (exclusive; `None` = from the beginning).
    fn pages(&self, query: IssuanceQuery, after: Option<String>) -> Self::Pager;
}

/// The pager holds the cursor; each page says where it started and where the next one starts
/// (`IssuancePage::after`, `IssuancePage::cursor`), so the run keeps no copy of its own.
pub trait IssuancePager {
    /// `Ok(Some(page))`: a non-empty page; `Ok(None)`: caught up; `Err`: stopped (the cursor
    /// stays where it was).
    fn next_page(
        &mut self,
        budget: &mut Budget,
    ) -> impl Future<Output = Result<Option<IssuancePage>, FetchError>> + Send;
}

impl IssuanceSource for CertSpotterClient {
    type Pager = Pager;

    fn pages(&self, query: IssuanceQuery, after: Option<String>) -> Pager {
        CertSpotterClient::pages(self, query, after)
    }
}

impl IssuancePager for Pager {
    fn next_page(
        &mut self,
        budget: &mut Budget,
    ) -> impl Future<Output = Result<Option<IssuancePage>, FetchError>> + Send {
        Pager::next_page(self, budget)
    }
}
