import StudyKit
