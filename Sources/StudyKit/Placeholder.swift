public enum StudyKitModule {}
